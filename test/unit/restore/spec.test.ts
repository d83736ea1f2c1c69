import { describe, expect, it } from 'vitest';
import { operationNumber, restoredDomainSpec, restoredMac, restoredName } from '../../../restore/spec.ts';

describe('restore spec', () => {
  it('names drill copies by runbook, operation and VM; a failover keeps the name', () => {
    expect(restoredName('drill', 'lab', 3, 'db-1')).toBe('lb-drill-lab-3-db-1');
    expect(restoredName('failover', 'lab', 3, 'db-1')).toBe('db-1');
    const long = restoredName('drill', 'r'.repeat(90), 1, 'v'.repeat(90));
    expect(long.length).toBeLessThanOrEqual(100);
    expect(long).not.toBe(restoredName('drill', 'r'.repeat(90), 1, `${'v'.repeat(89)}w`));
    expect(operationNumber('runbook/lab/drill/12')).toBe(12);
  });
  it('builds the copy from the definition: overlays, the point boot files, new MACs on the given network', () => {
    const base = {
      name: 'db-1',
      uuid: '11111111-2222-4333-8444-555555555555',
      memoryMiB: 128,
      vcpus: 1,
      boot: { kernel: '/primary/vmlinuz', initrd: '/primary/initrd', cmdline: 'console=ttyS0 lb.vm=db-1' },
      disks: [
        { target: 'vda', source: '/primary/db-1.qcow2', format: 'qcow2' },
        { target: 'vdb', source: '/primary/db-1-data.qcow2', format: 'qcow2' },
      ],
      nics: [{ network: 'production', mac: '52:54:00:aa:bb:cc' }],
    };
    const spec = restoredDomainSpec(
      base,
      { vm: 'db-1', pointId: 'P', disks: [] },
      {
        name: 'lb-drill-lab-3-db-1',
        network: 'bubble',
        overlays: { vda: '/r/vda.qcow2', vdb: '/r/vdb.qcow2' },
        bootFiles: { kernel: '/p/boot-kernel', initrd: '/p/boot-initrd' },
        serialLog: '/r/serial.log',
        macSeed: 'runbook/lab/drill/3/db-1',
        keepUuid: false,
      },
    );
    expect(spec).toMatchObject({
      name: 'lb-drill-lab-3-db-1',
      boot: { kernel: '/p/boot-kernel', initrd: '/p/boot-initrd', cmdline: 'console=ttyS0 lb.vm=db-1' },
      disks: [{ source: '/r/vda.qcow2' }, { source: '/r/vdb.qcow2' }],
      nics: [{ network: 'bubble', mac: restoredMac('runbook/lab/drill/3/db-1', 0) }],
    });
    expect(spec.uuid).toBeUndefined();
    expect(spec.nics[0]?.mac).not.toBe('52:54:00:aa:bb:cc');
    expect(() =>
      restoredDomainSpec(
        base,
        { vm: 'db-1', pointId: 'P', disks: [] },
        {
          name: 'x',
          network: 'bubble',
          overlays: { vda: '/r/vda.qcow2' },
          bootFiles: {},
          serialLog: '/s',
          macSeed: 's',
          keepUuid: false,
        },
      ),
    ).toThrow(/no disk vdb/);
  });
});
