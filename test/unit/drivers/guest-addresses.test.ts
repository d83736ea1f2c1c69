import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../../drivers/libvirt/domain-xml.ts';
import {
  addressesFromAgent,
  addressesFromDomifaddr,
  isRoutable,
  routableAddresses,
} from '../../../drivers/libvirt/guest-addresses.ts';
import { parseSerialRunElement, serialRunElement } from '../../../drivers/libvirt/serial-run.ts';
import type { VmAddress } from '../../../drivers/types.ts';

// What the lab guest's qemu-ga answers to guest-network-get-interfaces (statistics trimmed).
const AGENT_REPLY = [
  {
    name: 'lo',
    'hardware-address': '00:00:00:00:00:00',
    'ip-addresses': [
      { 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8 },
      { 'ip-address-type': 'ipv6', 'ip-address': '::1', prefix: 128 },
    ],
  },
  {
    name: 'eth0',
    'hardware-address': '52:54:00:FB:0F:AF',
    'ip-addresses': [
      { 'ip-address-type': 'ipv6', 'ip-address': 'fe80::5054:ff:fefb:faf', prefix: 64 },
      { 'ip-address-type': 'ipv6', 'ip-address': 'fd00::11', prefix: 64 },
      { 'ip-address-type': 'ipv4', 'ip-address': '192.168.100.11', prefix: 24 },
    ],
  },
  {
    name: 'docker0',
    'hardware-address': '02:42:00:00:00:01',
    'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '172.17.0.1', prefix: 16 }],
  },
  { name: 'broken', 'ip-addresses': 'nope' },
  'garbage',
];

// `virsh domifaddr --source arp` as virsh prints it (no --full: repeated names become '-').
const DOMIFADDR = ` Name       MAC address          Protocol     Address
-------------------------------------------------------------------------------
 vnet5      52:54:00:fb:0f:af    ipv4         192.168.100.11/24
 -          -                    ipv6         fd00::11/64

`;

describe('guest addresses', () => {
  it('reads the agent reply, skipping what is malformed', () => {
    const all = addressesFromAgent(AGENT_REPLY);
    expect(all).toHaveLength(6);
    expect(all.find((a) => a.address === '192.168.100.11')).toEqual({
      interface: 'eth0',
      mac: '52:54:00:fb:0f:af',
      family: 'ipv4',
      address: '192.168.100.11',
      prefix: 24,
      source: 'agent',
    });
    expect(addressesFromAgent({ error: 'x' })).toEqual([]);
  });

  it('reads the domifaddr table, carrying name and MAC to continuation rows', () => {
    expect(addressesFromDomifaddr(DOMIFADDR, 'arp')).toEqual([
      {
        interface: 'vnet5',
        mac: '52:54:00:fb:0f:af',
        family: 'ipv4',
        address: '192.168.100.11',
        prefix: 24,
        source: 'arp',
      },
      {
        interface: 'vnet5',
        mac: '52:54:00:fb:0f:af',
        family: 'ipv6',
        address: 'fd00::11',
        prefix: 64,
        source: 'arp',
      },
    ]);
    // The header and rule alone: no addresses known.
    expect(addressesFromDomifaddr(DOMIFADDR.split('\n').slice(0, 2).join('\n'), 'lease')).toEqual([]);
  });

  it('keeps only routable addresses', () => {
    const a = (address: string, family: 'ipv4' | 'ipv6'): VmAddress => ({
      interface: '',
      mac: '',
      family,
      address,
      prefix: 0,
      source: 'agent',
    });
    expect(isRoutable(a('192.168.100.11', 'ipv4'))).toBe(true);
    expect(isRoutable(a('127.0.0.1', 'ipv4'))).toBe(false);
    expect(isRoutable(a('169.254.1.2', 'ipv4'))).toBe(false);
    expect(isRoutable(a('0.0.0.0', 'ipv4'))).toBe(false);
    expect(isRoutable(a('::1', 'ipv6'))).toBe(false);
    expect(isRoutable(a('FE80::1', 'ipv6'))).toBe(false);
    expect(isRoutable(a('febf::1', 'ipv6'))).toBe(false);
    expect(isRoutable(a('fd00::11', 'ipv6'))).toBe(true);
  });

  it("keeps the domain's own NICs, IPv4 first, without duplicates", () => {
    const all = [...addressesFromAgent(AGENT_REPLY), ...addressesFromAgent(AGENT_REPLY)];
    expect(routableAddresses(all, ['52:54:00:fb:0f:af']).map((x) => x.address)).toEqual([
      '192.168.100.11',
      'fd00::11',
    ]);
    // A domain without MACs to go by: every routable address, the guest's bridge included.
    expect(routableAddresses(all, ['']).map((x) => x.address)).toEqual([
      '192.168.100.11',
      '172.17.0.1',
      'fd00::11',
    ]);
  });
});

describe('serial run offset', () => {
  it('round-trips through the metadata element, namespaced as virsh returns it', () => {
    expect(serialRunElement(3177)).toBe('<run serialOffset="3177"/>');
    expect(
      parseSerialRunElement(
        '<lifeboat:run xmlns:lifeboat="https://lifeboat.dev/xmlns/serial-run/1" serialOffset="3177"/>',
      ),
    ).toBe(3177);
    expect(parseSerialRunElement('<run/>')).toBeUndefined();
    expect(() => serialRunElement(-1)).toThrow(RangeError);
    expect(() => serialRunElement(1.5)).toThrow(RangeError);
  });

  const domain = (
    serial: string,
  ) => `<domain type='qemu'><name>v</name><uuid>u</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <devices>${serial}</devices></domain>`;

  it('knows whether the serial log is appended across boots', () => {
    expect(
      parseDomainXml(
        domain("<serial type='unix'><source mode='bind' path='/s'/><log file='/l' append='on'/></serial>"),
      ).serialLogAppends,
    ).toBe(true);
    expect(
      parseDomainXml(domain("<serial type='pty'><log file='/l' append='off'/></serial>")).serialLogAppends,
    ).toBe(false);
    expect(parseDomainXml(domain("<serial type='pty'><log file='/l'/></serial>")).serialLogAppends).toBe(
      false,
    );
    expect(
      parseDomainXml(domain("<serial type='file'><source path='/f' append='on'/></serial>")).serialLogAppends,
    ).toBe(true);
    expect(parseDomainXml(domain('')).serialLogAppends).toBe(false);
  });
});
