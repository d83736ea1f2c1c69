import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLastRecord } from '../../../workload/reader.ts';
import { encodeRecord, RECORD_SIZE } from '../../../workload/record.ts';

/** A disk image holding records 1..n of a 64-slot ring. */
function ring(n: number): Buffer {
  const disk = Buffer.alloc(64 * RECORD_SIZE);
  for (let seq = 1; seq <= n; seq++) {
    encodeRecord({ seq, timestampMs: 1_700_000_000_000 + seq, disk: 0, vm: 'db-1' }).copy(
      disk,
      ((seq - 1) % 64) * RECORD_SIZE,
    );
  }
  return disk;
}

describe('offline reader of the workload records (real qemu-img)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-reader-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a raw image, a qcow2 image and the top of a qcow2 chain without booting anything', async () => {
    const raw5 = path.join(dir, 'five.raw');
    const raw70 = path.join(dir, 'seventy.raw');
    writeFileSync(raw5, ring(5));
    writeFileSync(raw70, ring(70));
    const base = path.join(dir, 'base.qcow2');
    const top = path.join(dir, 'top.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw5, base]);
    // top holds only the clusters that differ from base: its records are readable only
    // through the backing chain.
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-B', base, '-F', 'qcow2', raw70, top]);

    expect(await readLastRecord(raw5)).toMatchObject({ format: 'raw', lastSeq: 5, validRecords: 5 });
    expect(await readLastRecord(base)).toMatchObject({ format: 'qcow2', lastSeq: 5, validRecords: 5 });
    const chain = await readLastRecord(top);
    expect(chain).toMatchObject({ format: 'qcow2', lastSeq: 70, validRecords: 64, invalidSlots: 0 });
    expect(chain.last).toMatchObject({ vm: 'db-1', seq: 70, timestampMs: 1_700_000_000_070 });
  });

  it('fails with a coded error on a missing image', async () => {
    await expect(readLastRecord(path.join(dir, 'nope.qcow2'))).rejects.toMatchObject({
      code: 'IMAGE_READ_FAILED',
    });
  });
});
