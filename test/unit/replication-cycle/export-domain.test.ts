import { describe, expect, it } from 'vitest';
import { backupXml, checkpointXml, domainDisks } from '../../../replication/export/domain.ts';
import { parseJobInfo } from '../../../replication/export/online.ts';

const XML = `<domain type='qemu'>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/lifeboat/storage/vms/db-1/system.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type="file" device="disk">
      <driver name="qemu" type="raw"/>
      <source file="/s/a&amp;b.img"/>
      <target dev="vdb" bus="virtio"/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/iso/x.iso'/>
      <target dev='sda' bus='sata'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='nbd' name='x'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
  </devices>
</domain>`;

describe('domainDisks', () => {
  it('lists file disks in order with their format, and skips cdroms and network disks', () => {
    expect(domainDisks(XML)).toEqual([
      { target: 'vda', source: '/var/lib/lifeboat/storage/vms/db-1/system.qcow2', format: 'qcow2' },
      { target: 'vdb', source: '/s/a&b.img', format: 'raw' },
    ]);
  });
  it('finds nothing in a domain without disks', () => {
    expect(domainDisks("<domain><devices><interface type='network'/></devices></domain>")).toEqual([]);
  });
});

describe('backup and checkpoint XML', () => {
  const files = new Map([
    ['vda', '/x/vda.qcow2'],
    ['vdb', "/x/it's.qcow2"],
  ]);
  it('is a full push backup without <incremental>', () => {
    const xml = backupXml(null, files);
    expect(xml).toContain("<domainbackup mode='push'>");
    expect(xml).not.toContain('<incremental>');
    expect(xml).toContain("<disk name='vda' backup='yes' type='file'><target file='/x/vda.qcow2'/>");
    expect(xml).toContain("file='/x/it&apos;s.qcow2'");
  });
  it('names the checkpoint it continues from', () => {
    expect(backupXml('lb-1', files)).toContain('<incremental>lb-1</incremental>');
  });
  it('asks a bitmap for every disk of the checkpoint', () => {
    const xml = checkpointXml('lb-2', ['vda', 'vdb']);
    expect(xml).toContain('<name>lb-2</name>');
    expect(xml.match(/checkpoint='bitmap'/g)).toHaveLength(2);
  });
});

describe('parseJobInfo', () => {
  it('reads virsh domjobinfo as key/value pairs', () => {
    const info = parseJobInfo(
      'Job type:         Completed   \nOperation:        Backup      \nTime elapsed:     70           ms\n',
    );
    expect(info).toMatchObject({
      'Job type': 'Completed',
      Operation: 'Backup',
      'Time elapsed': '70           ms',
    });
  });
});
