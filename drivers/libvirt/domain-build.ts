/**
 * Domain XML built with fast-xml-parser's builder: values go in as data and come out escaped,
 * so nothing from a runbook is ever pasted into markup. Specs are validated first. Pure.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { InvalidNameError } from '../errors.ts';
import { assertSafeName } from '../names.ts';
import type { DomainSpec } from '../types.ts';
import { GUEST_AGENT_CHANNEL } from './domain-xml.ts';

type XmlNode = Record<string, unknown>;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  suppressEmptyNode: true,
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
const CONTROL = /[\u0000-\u001f\u007f]/;
const DISK_TARGET = /^(vd|sd|hd|xvd)[a-z]{1,2}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FORMATS = new Set(['qcow2', 'raw']);

function refuse(site: string, what: string, name: string, reason: string): never {
  throw new InvalidNameError({ site, name, what, message: `${what} ${JSON.stringify(name)} ${reason}` });
}

function checkPath(site: string, what: string, path: string): void {
  if (!path.startsWith('/')) refuse(site, what, path, 'is not an absolute path');
  if (CONTROL.test(path)) refuse(site, what, path, 'contains a control character');
  if (path.split('/').includes('..')) refuse(site, what, path, "contains a '..' segment");
}

/** Refuses a spec that could not be a safe domain; throws InvalidNameError. */
export function validateDomainSpec(spec: DomainSpec, site = ''): void {
  assertSafeName(spec.name, 'VM name', site);
  if (spec.uuid !== undefined && !UUID.test(spec.uuid)) refuse(site, 'uuid', spec.uuid, 'is not a UUID');
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16) {
    refuse(site, 'memory', String(spec.memoryMiB), 'must be an integer >= 16 MiB');
  }
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 64) {
    refuse(site, 'vcpus', String(spec.vcpus), 'must be an integer from 1 to 64');
  }
  if (spec.boot) {
    checkPath(site, 'kernel path', spec.boot.kernel);
    if (spec.boot.initrd !== undefined) checkPath(site, 'initrd path', spec.boot.initrd);
    if (spec.boot.cmdline !== undefined && CONTROL.test(spec.boot.cmdline)) {
      refuse(site, 'kernel command line', spec.boot.cmdline, 'contains a control character');
    }
  }
  const targets = new Set<string>();
  for (const d of spec.disks) {
    if (!DISK_TARGET.test(d.target)) refuse(site, 'disk target', d.target, 'is not a device name like vda');
    if (targets.has(d.target)) refuse(site, 'disk target', d.target, 'is used twice');
    targets.add(d.target);
    checkPath(site, 'disk source path', d.source);
    if (!FORMATS.has(d.format)) refuse(site, 'disk format', d.format, 'must be qcow2 or raw');
  }
  for (const n of spec.nics) {
    assertSafeName(n.network, 'network name', site);
    if (n.mac !== undefined && !MAC.test(n.mac)) refuse(site, 'MAC address', n.mac, 'is not a MAC address');
  }
  if (spec.serialLog !== undefined) checkPath(site, 'serial log path', spec.serialLog);
}

function busOf(target: string): string {
  if (target.startsWith('sd')) return 'scsi';
  if (target.startsWith('hd')) return 'ide';
  if (target.startsWith('xvd')) return 'xen';
  return 'virtio';
}

/** Domain XML for a spec; validates it first. */
export function buildDomainXml(spec: DomainSpec, site = ''): string {
  validateDomainSpec(spec, site);
  const os: XmlNode = { type: { '@_arch': 'x86_64', '@_machine': 'pc', '#text': 'hvm' } };
  if (spec.boot) {
    os.kernel = spec.boot.kernel;
    if (spec.boot.initrd !== undefined) os.initrd = spec.boot.initrd;
    if (spec.boot.cmdline !== undefined) os.cmdline = spec.boot.cmdline;
  } else {
    os.boot = { '@_dev': 'hd' };
  }
  const devices: XmlNode = {
    disk: spec.disks.map((d) => {
      const disk: XmlNode = {
        '@_type': 'file',
        '@_device': 'disk',
        driver: { '@_name': 'qemu', '@_type': d.format },
        source: { '@_file': d.source },
        target: { '@_dev': d.target, '@_bus': busOf(d.target) },
      };
      // '' with suppressEmptyNode is how the builder writes an empty element (<readonly/>).
      if (d.readonly) disk.readonly = '';
      return disk;
    }),
    interface: spec.nics.map((n) => {
      const nic: XmlNode = { '@_type': 'network' };
      if (n.mac !== undefined) nic.mac = { '@_address': n.mac };
      nic.source = { '@_network': n.network };
      nic.model = { '@_type': 'virtio' };
      return nic;
    }),
    serial: [
      spec.serialLog !== undefined
        ? { '@_type': 'pty', log: { '@_file': spec.serialLog, '@_append': 'off' }, target: { '@_port': '0' } }
        : { '@_type': 'pty', target: { '@_port': '0' } },
    ],
    console: [{ '@_type': 'pty', target: { '@_type': 'serial', '@_port': '0' } }],
    channel:
      spec.guestAgent === false
        ? []
        : [{ '@_type': 'unix', target: { '@_type': 'virtio', '@_name': GUEST_AGENT_CHANNEL } }],
    // Graphics omitted on purpose: libvirt rejects <graphics type='none'/>.
    video: { model: { '@_type': 'none' } },
    memballoon: { '@_model': 'none' },
  };
  const domain: XmlNode = { '@_type': spec.type ?? 'qemu', name: spec.name };
  if (spec.uuid !== undefined) domain.uuid = spec.uuid;
  domain.memory = { '@_unit': 'MiB', '#text': String(spec.memoryMiB) };
  domain.vcpu = String(spec.vcpus);
  domain.os = os;
  // Without ACPI the guest cannot power itself off (graceful shutdown needs it).
  domain.features = { acpi: '' };
  domain.on_poweroff = 'destroy';
  domain.on_reboot = 'restart';
  domain.on_crash = 'destroy';
  domain.devices = devices;
  return builder.build({ domain }) as string;
}

const orderedParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  preserveOrder: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  commentPropName: '#comment',
});
const orderedBuilder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  preserveOrder: true,
  suppressEmptyNode: true,
  commentPropName: '#comment',
});

/**
 * The same definition with `uuid` set, everything else kept in order. libvirt refuses to
 * redefine a domain under a new uuid, so an idempotent define reuses the existing one.
 */
export function withUuid(xml: string, uuid: string): string {
  if (!UUID.test(uuid)) throw new Error(`not a UUID: ${uuid}`);
  const doc = orderedParser.parse(xml) as Array<Record<string, unknown>>;
  const domain = doc.find((n) => 'domain' in n)?.domain;
  if (!Array.isArray(domain)) throw new Error('not a libvirt domain XML document (no <domain>)');
  const children = domain as Array<Record<string, unknown>>;
  const uuidNode = { uuid: [{ '#text': uuid }] };
  const existing = children.findIndex((c) => 'uuid' in c);
  if (existing >= 0) children[existing] = uuidNode;
  else {
    const nameAt = children.findIndex((c) => 'name' in c);
    children.splice(nameAt + 1, 0, uuidNode);
  }
  return orderedBuilder.build(doc) as string;
}
