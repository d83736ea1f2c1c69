/**
 * A guest's addresses, from the guest agent's `guest-network-get-interfaces` (JSON) or, when the
 * agent does not answer, from `virsh domifaddr --source lease|arp` (a text table; virsh has no
 * JSON form of it). Only addresses a site can route to are kept, on the domain's own NICs.
 */
import type { VmAddress } from '../types.ts';

interface AgentInterface {
  name?: unknown;
  'hardware-address'?: unknown;
  'ip-addresses'?: unknown;
}

/** Parses the agent's interface list; anything malformed is skipped rather than trusted. */
export function addressesFromAgent(reply: unknown): VmAddress[] {
  if (!Array.isArray(reply)) return [];
  const out: VmAddress[] = [];
  for (const itf of reply as AgentInterface[]) {
    if (typeof itf !== 'object' || itf === null || !Array.isArray(itf['ip-addresses'])) continue;
    const mac = typeof itf['hardware-address'] === 'string' ? itf['hardware-address'].toLowerCase() : '';
    for (const ip of itf['ip-addresses'] as Array<Record<string, unknown>>) {
      const family = ip['ip-address-type'];
      const address = ip['ip-address'];
      if ((family !== 'ipv4' && family !== 'ipv6') || typeof address !== 'string') continue;
      out.push({
        interface: typeof itf.name === 'string' ? itf.name : '',
        mac,
        family,
        address,
        prefix: typeof ip.prefix === 'number' ? ip.prefix : family === 'ipv4' ? 32 : 128,
        source: 'agent',
      });
    }
  }
  return out;
}

/**
 * Parses `virsh domifaddr` output: a header, a dashed rule, then `name mac protocol addr/prefix`
 * rows; without `--full`, a second address of an interface shows `-` for name and MAC.
 */
export function addressesFromDomifaddr(text: string, source: 'arp' | 'lease'): VmAddress[] {
  const out: VmAddress[] = [];
  let inBody = false;
  let lastName = '';
  let lastMac = '';
  for (const line of text.split('\n')) {
    if (/^-{5,}/.test(line.trim())) {
      inBody = true;
      continue;
    }
    if (!inBody) continue;
    const f = line.trim().split(/\s+/);
    if (f.length !== 4) continue;
    const [name, mac, family, cidr] = f as [string, string, string, string];
    if (family !== 'ipv4' && family !== 'ipv6') continue;
    if (name !== '-') lastName = name;
    if (mac !== '-') lastMac = mac.toLowerCase();
    const slash = cidr.lastIndexOf('/');
    const address = slash >= 0 ? cidr.slice(0, slash) : cidr;
    const prefix = slash >= 0 ? Number(cidr.slice(slash + 1)) : family === 'ipv4' ? 32 : 128;
    out.push({
      interface: lastName,
      mac: lastMac,
      family,
      address,
      prefix: Number.isInteger(prefix) ? prefix : 0,
      source,
    });
  }
  return out;
}

/** Loopback, link-local and unspecified addresses cannot be reached from the site. */
export function isRoutable(a: VmAddress): boolean {
  if (a.family === 'ipv4') {
    return !/^(127\.|169\.254\.|0\.)/.test(a.address);
  }
  const v6 = a.address.toLowerCase();
  return v6 !== '::1' && v6 !== '::' && !/^fe[89ab][0-9a-f]:/.test(v6);
}

/**
 * The routable addresses on the domain's NICs (by MAC; all when the domain has no MACs to go
 * by), IPv4 first, duplicates dropped.
 */
export function routableAddresses(all: VmAddress[], nicMacs: string[]): VmAddress[] {
  const macs = new Set(nicMacs.map((m) => m.toLowerCase()).filter((m) => m !== ''));
  const seen = new Set<string>();
  const kept = all.filter((a) => {
    if (!isRoutable(a)) return false;
    if (macs.size > 0 && !macs.has(a.mac)) return false;
    if (seen.has(a.address)) return false;
    seen.add(a.address);
    return true;
  });
  return [...kept.filter((a) => a.family === 'ipv4'), ...kept.filter((a) => a.family === 'ipv6')];
}
