import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryVirsh } from '../../../lab/site.ts';
import { type LabVm, readState } from '../../../lab/state.ts';
import { lastAckedSeq, serialText } from '../../../lab/vms.ts';
import { readLastRecord } from '../../../workload/reader.ts';
import { ensureFreshLab } from '../../support/lab.ts';

describe('the guest workload', () => {
  let db: LabVm;
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-workload-'));
  beforeAll(async () => {
    await ensureFreshLab();
    db = readState()!.vms.find((v) => v.dataDisks === 2)!;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps acknowledging new records on the serial console', async () => {
    const first = lastAckedSeq(serialText(db));
    await sleep(3_000);
    const second = lastAckedSeq(serialText(db));
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
  });

  it('loses no acknowledged record on a power cut, and the offline reader agrees with the serial log', async () => {
    const running = await readLastRecord(db.disks[1]!);
    expect(running.lastSeq).toBeGreaterThan(0);

    // Power cut: no flush, no shutdown. Every acknowledged record must be on both data disks.
    const destroyed = await tryVirsh('primary', ['destroy', db.domain]);
    expect(destroyed.code).toBe(0);
    await sleep(500);
    const acked = lastAckedSeq(serialText(db));
    expect(acked).toBeGreaterThanOrEqual(running.lastSeq - 1);
    for (const [i, disk] of db.disks.slice(1).entries()) {
      const scan = await readLastRecord(disk);
      expect(scan.last).toMatchObject({ vm: db.name, disk: i });
      // The record in flight when the power went may be on disk without its acknowledgement.
      expect(scan.lastSeq).toBeGreaterThanOrEqual(acked);
      expect(scan.lastSeq).toBeLessThanOrEqual(acked + 1);
      expect(scan.invalidSlots).toBeLessThanOrEqual(1);

      // The same answer through a qcow2 chain (an overlay on the disk, as replicas are built).
      const top = path.join(dir, `top-${i}.qcow2`);
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', disk, '-F', 'qcow2', top]);
      expect((await readLastRecord(top)).lastSeq).toBe(scan.lastSeq);
    }
  });
});
