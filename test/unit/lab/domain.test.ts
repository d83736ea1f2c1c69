import { describe, expect, it } from 'vitest';
import { hostPathOf, SITE_STORAGE_PATH, sitePaths } from '../../../lab/config.ts';
import { diskTarget, domainXml, kernelCmdline, labMac, labUuid } from '../../../lab/domain.ts';
import { labVmHardware, readLabRunbook, resolveLabRunbook } from '../../../lab/runbook.ts';
import { planLabVms } from '../../../lab/vms.ts';

const spec = {
  name: 'db-1',
  vm: 'db-1',
  uuid: labUuid('primary:db-1'),
  memoryMiB: 128,
  disks: ['/s/vms/db-1/system.qcow2', '/s/vms/db-1/data1.qcow2', '/s/vms/db-1/data2.qcow2'],
  address: '192.168.100.10/24',
  mac: labMac('db-1'),
  network: 'production',
  serialLog: '/s/vms/db-1/serial.log',
  serialSocket: '/s/vms/db-1/serial.sock',
  rate: 5,
};

describe('lab domain XML', () => {
  it('is a TCG domain with every disk, the NIC, a unix serial with a log and the agent channel', () => {
    const xml = domainXml(spec);
    expect(xml).toContain("<domain type='qemu'>");
    expect(xml).toContain('<name>db-1</name>');
    for (const [i, d] of spec.disks.entries())
      expect(xml).toContain(`<source file='${d}'/>\n      <target dev='${diskTarget(i)}'`);
    expect(xml).toContain("<serial type='unix'>");
    expect(xml).toContain("<log file='/s/vms/db-1/serial.log' append='on'/>");
    expect(xml).toContain("name='org.qemu.guest_agent.0'");
    expect(xml).toContain("<source network='production'/>");
    expect(xml).toContain('<features><acpi/></features>');
    expect(xml).not.toContain('<graphics');
  });

  it('passes name, address, rate and the data disks to the guest on its kernel command line', () => {
    expect(kernelCmdline(spec)).toBe(
      'console=ttyS0 quiet panic=-1 lb.vm=db-1 lb.ip=192.168.100.10/24 lb.rate=5 lb.data=vdb,vdc',
    );
    expect(kernelCmdline({ ...spec, disks: spec.disks.slice(0, 1) })).not.toContain('lb.data');
  });

  it('escapes XML metacharacters', () => {
    expect(domainXml({ ...spec, serialLog: "/a'b<c" })).toContain('/a&apos;b&lt;c');
  });

  it('derives stable, distinct UUIDs and MACs', () => {
    expect(labUuid('primary:db-1')).toBe(labUuid('primary:db-1'));
    expect(labUuid('primary:db-1')).not.toBe(labUuid('secondary:db-1'));
    expect(labUuid('x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(labMac('db-1')).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(labMac('db-1')).not.toBe(labMac('app-1'));
  });
});

describe('lab paths and runbooks', () => {
  it('maps paths inside a site to the host', () => {
    const home = '/h';
    expect(hostPathOf('secondary', `${SITE_STORAGE_PATH}/vms/a/x.qcow2`, home)).toBe(
      `${sitePaths('secondary', home).storage}/vms/a/x.qcow2`,
    );
    expect(hostPathOf('primary', '/run/libvirt/qemu/a.pid', home)).toBe('/h/lab/primary/run/qemu/a.pid');
    expect(hostPathOf('primary', '/run/libvirtx', home)).toBe('/run/libvirtx');
    expect(hostPathOf('primary', '/etc/passwd', home)).toBe('/etc/passwd');
  });

  it('lab.yaml has at least 3 groups and one VM with two data disks', () => {
    const rb = readLabRunbook(resolveLabRunbook('lab.yaml'));
    expect(new Set(rb.vms.map((v) => v.group)).size).toBeGreaterThanOrEqual(3);
    expect(rb.vms.filter((v) => labVmHardware(v.name).dataDisks === 2).length).toBeGreaterThanOrEqual(1);
    const vms = planLabVms(resolveLabRunbook('lab.yaml'), '/h');
    // On the primary the domains are exactly the runbook's VM names, with distinct addresses.
    expect(vms.map((v) => v.domain)).toEqual(rb.vms.map((v) => v.name));
    expect(new Set(vms.map((v) => v.address)).size).toBe(vms.length);
    const db = vms.find((v) => v.dataDisks === 2)!;
    expect(db.disks).toHaveLength(3);
    expect(db.disks[0]).toBe(`/h/lab/primary/storage/vms/${db.name}/system.qcow2`);
  });

  it('lab-mini.yaml has 2 groups and 2-3 VMs', () => {
    const rb = readLabRunbook(resolveLabRunbook('lab-mini.yaml'));
    expect(new Set(rb.vms.map((v) => v.group)).size).toBe(2);
    expect(rb.vms.length).toBeGreaterThanOrEqual(2);
    expect(rb.vms.length).toBeLessThanOrEqual(3);
  });
});
