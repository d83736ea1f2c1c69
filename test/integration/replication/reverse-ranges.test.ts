/**
 * Reprotect's data handling on real qcow2 files (no lab): the ranges a disk's bitmaps mark since
 * a checkpoint, an overlay's own clusters, a delta copied out of one chain and written into
 * another disk until the two compare identical, and the divergent side files' list and discard.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compareImages,
  createImage,
  createOverlay,
  type Extent,
  layerExtents,
} from '../../../replication/chain.ts';
import { runProcess } from '../../../replication/exec.ts';
import { readDeltaIndex, writeDeltaDisk, writeDeltaIndex } from '../../../replication/reverse/delta.ts';
import { discardDivergent, discardLog, listDivergent } from '../../../replication/reverse/divergent.ts';
import {
  alignExtents,
  DELTA_GRANULARITY,
  totalLength,
  unionExtents,
} from '../../../replication/reverse/extents.ts';
import {
  beginReversePoint,
  commitPendingPoint,
  pruneReversePoints,
  reversePointDir,
  rollBackTo,
  scanReversePoints,
  undoDir,
} from '../../../replication/reverse/points.ts';
import { dirtySince, writeRanges } from '../../../replication/reverse/ranges.ts';
import { qemuIo, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
let work: string;

beforeAll(async () => {
  work = await tempDir('reverse');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('reprotect ranges on real images', () => {
  it('makes the old primary equal to the active side by writing only the union of both change sets', async () => {
    // The common point P, both sides' copy of it.
    const point = join(work, 'point.qcow2');
    await createImage(point, SIZE);
    await qemuIo(point, ['write -P 0x11 0 8M', 'write -P 0x12 30M 2M']);
    const old = join(work, 'old.qcow2');
    await runProcess('cp', [point, old]);
    // The old primary's checkpoint at P, then its writes after P (a later checkpoint too).
    await runProcess('qemu-img', ['bitmap', '--add', '--enable', old, 'cp-p']);
    await qemuIo(old, ['write -P 0xa1 1M 64k']);
    await runProcess('qemu-img', ['bitmap', '--disable', old, 'cp-p']);
    await runProcess('qemu-img', ['bitmap', '--add', '--enable', old, 'cp-later']);
    await qemuIo(old, ['write -P 0xa2 40M 128k']);
    // The active side: an overlay on P with its own writes, one overlapping the old primary's.
    const overlay = join(work, 'active.qcow2');
    await createOverlay(overlay, point);
    await qemuIo(overlay, ['write -P 0xb1 1M 4k', 'write -P 0xb2 50M 256k', 'write -P 0xb3 63M 10k']);

    const theirs = await dirtySince(old, 'cp-p');
    expect(theirs.ok).toBe(true);
    const divergent = theirs.ok ? theirs.extents : [];
    expect(divergent).toEqual([
      { start: 1 * MiB, length: 64 * 1024 },
      { start: 40 * MiB, length: 128 * 1024 },
    ]);
    expect(await dirtySince(old, 'no-such')).toMatchObject({ ok: false });
    // An image with no backing file: its holes are not writes, only its written clusters count.
    expect(await layerExtents(point)).toEqual([
      { start: 0, length: 8 * MiB },
      { start: 30 * MiB, length: 2 * MiB },
    ]);
    const ours = await layerExtents(overlay);
    const union = alignExtents(unionExtents(ours, divergent), DELTA_GRANULARITY, SIZE);
    // 1M (64k, both), 40M (128k), 50M (256k), 63M (one 64k cluster for 10k).
    expect(totalLength(union)).toBe(64 * 1024 + 128 * 1024 + 256 * 1024 + 64 * 1024);
    expect(await compareImages(overlay, old)).toMatchObject({ identical: false });

    const out = join(work, 'delta');
    await mkdir(out);
    const d = await writeDeltaDisk(out, {
      target: 'vda',
      image: overlay,
      format: 'qcow2',
      virtualSize: SIZE,
      extents: union,
    });
    expect(d.bytes).toBe(totalLength(union));
    await writeRanges(old, 'qcow2', join(out, d.file), union);
    expect(await compareImages(overlay, old)).toMatchObject({ identical: true });
    // The writes are in the enabled bitmap: what a later reprotect must not call divergent.
    const after = await dirtySince(old, 'cp-later');
    expect(after.ok && totalLength(after.extents)).toBeGreaterThanOrEqual(totalLength(union) - 64 * 1024);
  });

  it('lists side files and removes them only with a reason, recording who, why and what', async () => {
    const storage = join(work, 'storage');
    const dir = join(storage, 'divergent', 'rb1', 'db-1', 'runbook_rb1_reprotect_1');
    await mkdir(dir, { recursive: true });
    const img = join(work, 'side-src.qcow2');
    await createImage(img, 4 * MiB);
    await qemuIo(img, ['write -P 0x77 0 64k']);
    const disk = await writeDeltaDisk(dir, {
      target: 'vdb',
      image: img,
      format: 'qcow2',
      virtualSize: 4 * MiB,
      extents: [{ start: 0, length: 64 * 1024 }],
    });
    expect((await readFile(join(dir, disk.file))).every((b) => b === 0x77)).toBe(true);
    // Without an index a directory is an incomplete leftover: not listed.
    await mkdir(join(storage, 'divergent', 'rb1', 'db-1', 'half'), { recursive: true });
    expect(await listDivergent(storage, 'rb1')).toEqual([]);
    await writeDeltaIndex(dir, {
      version: 1,
      vm: 'db-1',
      operationId: 'runbook/rb1/reprotect/1',
      pointId: 'p1',
      createdAt: new Date().toISOString(),
      source: 'test',
      disks: [disk],
    });
    expect((await readDeltaIndex(dir))?.disks[0]?.sha256).toBe(disk.sha256);
    const listed = await listDivergent(storage, 'rb1');
    expect(listed.map((e) => [e.vm, e.operationId, e.bytes])).toEqual([
      ['db-1', 'runbook/rb1/reprotect/1', 65536],
    ]);
    await expect(discardDivergent(storage, 'rb1', { by: 'sre', reason: '  ' })).rejects.toThrow(/reason/);
    expect(await listDivergent(storage, 'rb1')).toHaveLength(1);
    const rec = await discardDivergent(storage, 'rb1', { by: 'sre', reason: 'app team checked' });
    expect(rec.removed).toEqual([expect.objectContaining({ vm: 'db-1', bytes: 65536 })]);
    expect(await listDivergent(storage, 'rb1')).toEqual([]);
    expect((await discardLog(storage, 'rb1')).map((r) => [r.by, r.reason])).toEqual([
      ['sre', 'app team checked'],
    ]);
  });

  it('keeps reverse points as undo files: an older point is the disk with the newer undos written back; retention drops the oldest', async () => {
    const storage = join(work, 'points-storage');
    const disk = join(work, 'old-primary.qcow2');
    await createImage(disk, 16 * MiB);
    const disks = [{ target: 'vda', source: disk, format: 'qcow2' }];
    const deps = { storage, site: 'primary' };
    const begin = (key: string, extents: Extent[], divergence: Extent[] = []) =>
      beginReversePoint(deps, {
        operationId: key,
        key,
        index: {
          version: 1,
          vm: 'db-1',
          operationId: key,
          pointId: 'p1',
          createdAt: new Date().toISOString(),
          source: 'test',
          disks: [
            {
              target: 'vda',
              file: 'vda.delta',
              virtualSize: 16 * MiB,
              extents,
              bytes: totalLength(extents),
              sha256: '0'.repeat(64),
            },
          ],
        },
        disks,
        divergence: { disks: [{ extents: divergence }] },
      });
    const write = (pattern: string, extents: Extent[]) =>
      qemuIo(
        disk,
        extents.map((e) => `write -P ${pattern} ${e.start} ${e.length}`),
      );
    const at: string[] = [];
    const snapshot = async () => {
      const copy = join(work, `at-${at.length + 1}.qcow2`);
      await runProcess('cp', [disk, copy]);
      at.push(copy);
    };
    // Three cycles write overlapping ranges, as reprotectApply does: begin (the undo file of
    // what is about to be overwritten), write, commit.
    const cycles: Array<[string, Extent[]]> = [
      ['0x21', [{ start: 0, length: 2 * MiB }]],
      ['0x22', [{ start: MiB, length: 2 * MiB }]],
      [
        '0x23',
        [
          { start: 2 * MiB, length: MiB },
          { start: 8 * MiB, length: 64 * 1024 },
        ],
      ],
    ];
    const made = [];
    for (const [i, [pattern, extents]] of cycles.entries()) {
      const p = await begin(`op_${i + 1}`, extents);
      await write(pattern, extents);
      made.push(await commitPendingPoint(storage, p, 6));
      await snapshot();
    }
    expect(made.map((m) => [m.seq, m.undoBytes, m.kept])).toEqual([
      [1, 0, 1],
      [2, 2 * MiB, 2],
      [3, MiB + 64 * 1024, 3],
    ]);
    const rolled = async (seq: number) => {
      const out = join(work, `rolled-${seq}.qcow2`);
      await runProcess('cp', [disk, out]);
      await rollBackTo(storage, 'db-1', seq, new Map([['vda', { path: out, format: 'qcow2' }]]));
      return out;
    };
    expect(await compareImages(await rolled(1), at[0]!)).toMatchObject({ identical: true });
    expect(await compareImages(await rolled(2), at[1]!)).toMatchObject({ identical: true });
    expect(await compareImages(await rolled(1), at[1]!)).toMatchObject({ identical: false });
    // A cycle killed part-way into its writes: point 3 is still the disk with its undo written
    // back; the retry keeps that undo file (not the half-written bytes) and commits once.
    const fourth = [{ start: 4 * MiB, length: 2 * MiB }];
    await begin('op_4', fourth);
    await write('0x24', [{ start: 4 * MiB, length: MiB }]);
    expect((await scanReversePoints(storage, 'db-1')).pending).toHaveLength(1);
    expect(await compareImages(await rolled(3), at[2]!)).toMatchObject({ identical: true });
    const retry = await begin('op_4', fourth);
    await write('0x24', fourth);
    expect(await commitPendingPoint(storage, retry, 6)).toMatchObject({
      seq: 4,
      undoBytes: 2 * MiB,
      kept: 4,
    });
    expect(await commitPendingPoint(storage, await begin('op_4', fourth), 6)).toMatchObject({ seq: 4 });
    await snapshot();
    expect(await compareImages(await rolled(3), at[2]!)).toMatchObject({ identical: true });
    // Retention 2: points 1 and 2 go, and point 3 its undo file (it led to point 2).
    expect(await pruneReversePoints(storage, 'db-1', 2)).toEqual(['op_1', 'op_2']);
    const kept = (await scanReversePoints(storage, 'db-1')).points;
    expect(kept.map((p) => [p.seq, p.undo !== undefined])).toEqual([
      [3, false],
      [4, true],
    ]);
    expect(await readDeltaIndex(undoDir(reversePointDir(storage, 'db-1', 'op_3')))).toBeNull();
    await expect(rolled(2)).rejects.toThrow(/no reverse point 2/);
    expect(await compareImages(await rolled(3), at[2]!)).toMatchObject({ identical: true });
    // Written at the old primary since its last reprotect: the earlier points no longer follow.
    const fifth = [{ start: 0, length: 64 * 1024 }];
    const restarted = await commitPendingPoint(storage, await begin('op_5', fifth, fifth), 6);
    expect(restarted).toMatchObject({ seq: 1, undoBytes: 0, kept: 1, dropped: [] });
    expect(restarted.restartedBecause).toBe('db-1 was written at site primary since the last one');
  });
});
