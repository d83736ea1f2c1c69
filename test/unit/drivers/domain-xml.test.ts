import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidNameError } from '../../../drivers/errors.ts';
import { buildDomainXml, withUuid } from '../../../drivers/libvirt/domain-build.ts';
import { domainNameOf, domainSpecFromXml, parseDomainXml } from '../../../drivers/libvirt/domain-xml.ts';
import type { DomainSpec } from '../../../drivers/types.ts';

const base: DomainSpec = {
  name: 'web-1',
  uuid: '6fedf330-1480-4635-b61f-10ed4ada4e82',
  memoryMiB: 256,
  vcpus: 1,
  boot: { kernel: '/g/vmlinuz', initrd: '/g/initramfs.cpio.gz', cmdline: 'console=ttyS0 lb.vm=web-1' },
  disks: [
    { target: 'vda', source: '/s/web-1.qcow2', format: 'qcow2' },
    { target: 'vdb', source: '/s/web-1-data.raw', format: 'raw', readonly: true },
  ],
  nics: [{ network: 'production', mac: '52:54:00:12:34:56' }],
  serialLog: '/s/web-1.serial.log',
  guestAgent: true,
  type: 'qemu',
};

// What `virsh dumpxml` of a running domain looks like: KiB units, backing chains, aliases,
// a bridge NIC, a cdrom without media, attributes in libvirt's own order.
const LIBVIRT_DUMP = `<domain type='qemu' id='3'>
  <name>db-1</name>
  <uuid>0b5e5b6c-2d6f-4a8e-9d55-0c9f6f1b2a11</uuid>
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/lifeboat/storage/db-1.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/var/lib/lifeboat/storage/db-1.base.qcow2'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg0/db-1-data' index='1'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='production' portid='1' bridge='lbprod0'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:cd'/>
      <source bridge='br0'/>
    </interface>
    <serial type='pty'>
      <source path='/dev/pts/3'/>
      <log file='/var/log/libvirt/qemu/db-1-serial.log' append='off'/>
      <target type='isa-serial' port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-3-db-1/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
    </channel>
  </devices>
</domain>`;

describe('buildDomainXml / parseDomainXml', () => {
  it('round-trips a full spec', () => {
    expect(domainSpecFromXml(buildDomainXml(base))).toEqual(base);
  });

  it('round-trips a minimal spec (disk boot, no NIC, no agent, no serial log)', () => {
    const spec: DomainSpec = {
      name: 'm',
      memoryMiB: 64,
      vcpus: 2,
      disks: [{ target: 'vda', source: '/s/m.qcow2', format: 'qcow2' }],
      nics: [],
      guestAgent: false,
      type: 'kvm',
    };
    expect(domainSpecFromXml(buildDomainXml(spec))).toEqual(spec);
  });

  it('emits what TCG guests need: ACPI, no graphics, the agent channel, a logged serial', () => {
    const p = parseDomainXml(buildDomainXml(base));
    const xml = buildDomainXml(base);
    expect(xml).toContain('<acpi/>');
    expect(xml).not.toContain('<graphics');
    expect(p.hasGuestAgent).toBe(true);
    expect(p.serialLogs).toEqual(['/s/web-1.serial.log']);
    expect(p.type).toBe('qemu');
  });

  it('reads what libvirt itself writes', () => {
    const p = parseDomainXml(LIBVIRT_DUMP);
    expect(p.name).toBe('db-1');
    expect(p.memoryMiB).toBe(512);
    expect(p.vcpus).toBe(2);
    expect(p.disks).toEqual([
      { target: 'vda', source: '/var/lib/lifeboat/storage/db-1.qcow2', format: 'qcow2', device: 'disk' },
      { target: 'vdb', source: '/dev/vg0/db-1-data', format: 'raw', device: 'disk' },
      { target: 'hdc', source: '', format: 'raw', device: 'cdrom', readonly: true },
    ]);
    expect(p.nics).toEqual([
      { network: 'production', mac: '52:54:00:aa:bb:cc', bridge: 'lbprod0' },
      { network: '', mac: '52:54:00:aa:bb:cd', bridge: 'br0' },
    ]);
    expect(p.serialLogs).toEqual(['/var/log/libvirt/qemu/db-1-serial.log']);
    expect(p.hasGuestAgent).toBe(true);
    expect(p.boot).toBeUndefined();
  });

  it('derives a spec from a libvirt definition and rebuilds it (drill copy on another network)', () => {
    const spec = domainSpecFromXml(LIBVIRT_DUMP);
    expect(spec.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);
    const copy: DomainSpec = {
      ...spec,
      name: 'db-1-drill',
      uuid: undefined,
      disks: [{ target: 'vda', source: '/s/db-1.overlay.qcow2', format: 'qcow2' }],
      nics: spec.nics.map(({ mac: _mac, ...n }) => ({ ...n, network: 'bubble' })),
      serialLog: '/s/db-1-drill.log',
    };
    const p = parseDomainXml(buildDomainXml(copy));
    expect(p.name).toBe('db-1-drill');
    expect(p.uuid).toBe('');
    expect(p.nics.map((n) => n.network)).toEqual(['bubble']);
    expect(p.memoryMiB).toBe(512);
  });

  it.each([
    ['memory', 'b', 1048576 * 300, 300],
    ['memory', 'G', 2, 2048],
    ['memory', 'MB', 1048.576, 1000],
  ])('converts %s units (%s)', (_k, unit, value, mib) => {
    const xml = `<domain type='qemu'><name>u</name><memory unit='${unit}'>${value}</memory><vcpu>1</vcpu></domain>`;
    expect(parseDomainXml(xml).memoryMiB).toBe(mib);
  });

  it('keeps XML-special characters as data in paths and the command line', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9 '"<>&;=._-]{1,40}$/),
        fc.stringMatching(/^[A-Za-z0-9 '"<>&;=._-]{0,60}$/),
        (seg, cmdline) => {
          fc.pre(seg !== '..' && seg !== '.' && !seg.includes('/'));
          const spec: DomainSpec = {
            ...base,
            boot: { kernel: `/g/${seg}`, cmdline },
            disks: [{ target: 'vda', source: `/s/${seg}.qcow2`, format: 'qcow2' }],
            serialLog: `/s/${seg}.log`,
          };
          if (spec.boot && cmdline === '') delete spec.boot.cmdline;
          const back = domainSpecFromXml(buildDomainXml(spec));
          expect(back.disks[0]?.source).toBe(`/s/${seg}.qcow2`);
          expect(back.boot?.kernel).toBe(`/g/${seg}`);
          expect(back.serialLog).toBe(`/s/${seg}.log`);
          if (cmdline !== '') expect(back.boot?.cmdline).toBe(cmdline);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('cannot be made to inject elements through values', () => {
    const xml = buildDomainXml({
      ...base,
      boot: {
        kernel: '/g/k',
        cmdline: "x'/><devices><disk type='file'><source file='/etc/shadow'/></disk></devices>",
      },
    });
    const p = parseDomainXml(xml);
    expect(p.disks.map((d) => d.source)).toEqual(['/s/web-1.qcow2', '/s/web-1-data.raw']);
  });
});

describe('validateDomainSpec (through buildDomainXml)', () => {
  const bad: Array<[string, Partial<DomainSpec>]> = [
    ['hostile name', { name: 'a;b' }],
    ['hostile network', { nics: [{ network: '../x' }] }],
    ['relative disk path', { disks: [{ target: 'vda', source: 'disk.qcow2', format: 'qcow2' }] }],
    ['.. in disk path', { disks: [{ target: 'vda', source: '/s/../etc/x', format: 'qcow2' }] }],
    ['control char in path', { disks: [{ target: 'vda', source: '/s/x\n.qcow2', format: 'qcow2' }] }],
    ['bad disk target', { disks: [{ target: 'vda; x', source: '/s/x', format: 'qcow2' }] }],
    [
      'duplicate target',
      {
        disks: [
          { target: 'vda', source: '/s/a', format: 'qcow2' },
          { target: 'vda', source: '/s/b', format: 'qcow2' },
        ],
      },
    ],
    ['unknown format', { disks: [{ target: 'vda', source: '/s/x', format: 'vmdk' }] }],
    ['bad mac', { nics: [{ network: 'production', mac: 'zz' }] }],
    ['bad uuid', { uuid: 'not-a-uuid' }],
    ['tiny memory', { memoryMiB: 1 }],
    ['fractional vcpus', { vcpus: 1.5 }],
    ['control char in cmdline', { boot: { kernel: '/g/k', cmdline: 'a\u0007b' } }],
  ];
  it.each(bad)('refuses %s', (_what, patch) => {
    expect(() => buildDomainXml({ ...base, ...patch }, 'secondary')).toThrow(InvalidNameError);
  });

  it('domainNameOf validates the name in a definition', () => {
    expect(domainNameOf(buildDomainXml(base))).toBe('web-1');
    expect(() => domainNameOf('<domain><name>../evil</name></domain>')).toThrow(InvalidNameError);
    expect(() => domainNameOf('<notdomain/>')).toThrow(/not a libvirt domain/);
  });
});

describe('withUuid', () => {
  it('adds a uuid after the name and keeps everything else in order', () => {
    const xml =
      "<domain type='qemu'><name>a</name><!-- keep --><memory unit='KiB'>1024</memory><devices><disk type='file'><source file='/x&amp;y'/></disk></devices></domain>";
    const out = withUuid(xml, '6fedf330-1480-4635-b61f-10ed4ada4e82');
    expect(out.indexOf('<uuid>')).toBeGreaterThan(out.indexOf('</name>'));
    expect(out.indexOf('<uuid>')).toBeLessThan(out.indexOf('<memory'));
    expect(out).toContain('<!-- keep -->');
    const p = parseDomainXml(out);
    expect(p.uuid).toBe('6fedf330-1480-4635-b61f-10ed4ada4e82');
    expect(p.disks[0]?.source).toBe('/x&y');
    expect(p.memoryMiB).toBe(1);
  });

  it('replaces an existing uuid', () => {
    const out = withUuid(buildDomainXml(base), '00000000-0000-4000-8000-000000000000');
    expect(parseDomainXml(out).uuid).toBe('00000000-0000-4000-8000-000000000000');
    expect(domainSpecFromXml(out)).toEqual({ ...base, uuid: '00000000-0000-4000-8000-000000000000' });
  });
});
