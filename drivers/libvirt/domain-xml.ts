/**
 * Reading domain XML with fast-xml-parser (building it is domain-build.ts). Pure, unit-tested.
 */
import { XMLParser } from 'fast-xml-parser';
import { assertSafeName } from '../names.ts';
import type { DomainSpec, VmDisk, VmNic } from '../types.ts';

type XmlNode = Record<string, unknown>;

const ARRAY_PATHS = new Set([
  'domain.devices.disk',
  'domain.devices.interface',
  'domain.devices.serial',
  'domain.devices.console',
  'domain.devices.channel',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  isArray: (_name, jpath) => ARRAY_PATHS.has(String(jpath)),
});

export const GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0';

/** What the driver reads out of a domain's XML. */
export interface ParsedDomain {
  name: string;
  uuid: string;
  memoryMiB: number;
  vcpus: number;
  type: string;
  boot?: { kernel: string; initrd?: string; cmdline?: string };
  disks: VmDisk[];
  nics: VmNic[];
  /** Host files that receive serial output (`<log file>` or a file-type serial). */
  serialLogs: string[];
  /** The first serial log is appended across boots (`<log append='on'>`), not truncated. */
  serialLogAppends: boolean;
  hasGuestAgent: boolean;
}

function isNode(v: unknown): v is XmlNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function child(node: unknown, key: string): XmlNode | undefined {
  if (!isNode(node)) return undefined;
  const v = node[key];
  if (isNode(v)) return v;
  // An element with no attributes and no children parses as ''.
  if (v === '') return {};
  return undefined;
}

function list(node: unknown, key: string): XmlNode[] {
  if (!isNode(node)) return [];
  const v = node[key];
  if (Array.isArray(v)) return v.filter(isNode);
  if (isNode(v)) return [v];
  if (v === '') return [{}];
  return [];
}

function attr(node: unknown, name: string): string | undefined {
  if (!isNode(node)) return undefined;
  const v = node[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

/** Text content of an element, whether it has attributes or not. */
function text(node: unknown, key: string): string | undefined {
  if (!isNode(node)) return undefined;
  const v = node[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (isNode(v)) {
    const t = v['#text'];
    return typeof t === 'string' || typeof t === 'number' ? String(t) : undefined;
  }
  return undefined;
}

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  bytes: 1,
  kb: 1000,
  k: 1024,
  kib: 1024,
  mb: 1e6,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1e9,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1e12,
  t: 1024 ** 4,
  tib: 1024 ** 4,
};

function memoryMiB(domain: XmlNode): number {
  const mem = domain.memory;
  const value = Number(text(domain, 'memory') ?? '0');
  const unit = (attr(mem, 'unit') ?? 'KiB').toLowerCase();
  const factor = UNIT_BYTES[unit] ?? 1024;
  return Math.round((value * factor) / 1024 ** 2);
}

export function parseDomainXml(xml: string): ParsedDomain {
  const doc = parser.parse(xml) as XmlNode;
  const domain = child(doc, 'domain');
  if (!domain) throw new Error('not a libvirt domain XML document (no <domain>)');
  const devices = child(domain, 'devices') ?? {};
  const os = child(domain, 'os');

  const disks: VmDisk[] = list(devices, 'disk').map((d) => {
    const src = child(d, 'source');
    const disk: VmDisk = {
      target: attr(child(d, 'target'), 'dev') ?? '',
      source: attr(src, 'file') ?? attr(src, 'dev') ?? attr(src, 'name') ?? '',
      format: attr(child(d, 'driver'), 'type') ?? 'raw',
      device: attr(d, 'device') ?? 'disk',
    };
    if (child(d, 'readonly')) disk.readonly = true;
    return disk;
  });

  const nics: VmNic[] = list(devices, 'interface').map((i) => {
    const src = child(i, 'source');
    const nic: VmNic = { network: attr(src, 'network') ?? '', mac: attr(child(i, 'mac'), 'address') ?? '' };
    const bridge = attr(src, 'bridge');
    if (bridge !== undefined) nic.bridge = bridge;
    return nic;
  });

  const serialLogs: string[] = [];
  let serialLogAppends: boolean | undefined;
  for (const s of list(devices, 'serial')) {
    const log = attr(child(s, 'log'), 'file');
    if (log) {
      serialLogs.push(log);
      serialLogAppends ??= attr(child(s, 'log'), 'append') === 'on';
    } else if (attr(s, 'type') === 'file') {
      const path = attr(child(s, 'source'), 'path');
      if (path) {
        serialLogs.push(path);
        serialLogAppends ??= attr(child(s, 'source'), 'append') === 'on';
      }
    }
  }

  const hasGuestAgent = list(devices, 'channel').some(
    (c) => attr(child(c, 'target'), 'name') === GUEST_AGENT_CHANNEL,
  );

  const parsed: ParsedDomain = {
    name: text(domain, 'name') ?? '',
    uuid: text(domain, 'uuid') ?? '',
    memoryMiB: memoryMiB(domain),
    vcpus: Number(text(domain, 'vcpu') ?? '1'),
    type: attr(domain, 'type') ?? '',
    disks,
    nics,
    serialLogs,
    serialLogAppends: serialLogAppends ?? false,
    hasGuestAgent,
  };
  const kernel = text(os, 'kernel');
  if (kernel) {
    parsed.boot = { kernel };
    const initrd = text(os, 'initrd');
    const cmdline = text(os, 'cmdline');
    if (initrd) parsed.boot.initrd = initrd;
    if (cmdline) parsed.boot.cmdline = cmdline;
  }
  return parsed;
}

/** The DomainSpec an XML definition describes, e.g. to derive a drill copy from a definition. */
export function domainSpecFromXml(xml: string): DomainSpec {
  const p = parseDomainXml(xml);
  const spec: DomainSpec = {
    name: p.name,
    memoryMiB: p.memoryMiB,
    vcpus: p.vcpus,
    disks: p.disks
      .filter((d) => d.device === 'disk')
      .map((d) =>
        d.readonly
          ? { target: d.target, source: d.source, format: d.format, readonly: true }
          : {
              target: d.target,
              source: d.source,
              format: d.format,
            },
      ),
    nics: p.nics
      .filter((n) => n.network !== '')
      .map((n) => (n.mac ? { network: n.network, mac: n.mac } : { network: n.network })),
    guestAgent: p.hasGuestAgent,
  };
  if (p.uuid) spec.uuid = p.uuid;
  if (p.boot) spec.boot = { ...p.boot };
  if (p.serialLogs[0]) spec.serialLog = p.serialLogs[0];
  if (p.type === 'kvm' || p.type === 'qemu') spec.type = p.type;
  return spec;
}

/** The <name> of a domain XML document, validated. */
export function domainNameOf(xml: string, site = ''): string {
  const name = parseDomainXml(xml).name;
  assertSafeName(name, 'VM name', site);
  return name;
}
