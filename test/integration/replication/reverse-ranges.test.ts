/**
 * Reprotect's data handling on real qcow2 files (no lab): the ranges a disk's bitmaps mark since
 * a checkpoint, an overlay's own clusters, a delta copied out of one chain and written into
 * another disk until the two compare identical, and the divergent side files' list and discard.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages, createImage, createOverlay } from '../../../replication/chain.ts';
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
  commitReversePoint,
  pruneReversePoints,
  reversePointDir,
  rollBackTo,
  scanReversePoints,
  undoDir,
} from '../../../replication/reverse/points.ts';
import { dirtySince, layerWrites, writeRanges } from '../../../replication/reverse/ranges.ts';
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
    expect(await layerWrites(point)).toEqual([
      { start: 0, length: 8 * MiB },
      { start: 30 * MiB, length: 2 * MiB },
    ]);
    const ours = await layerWrites(overlay);
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
    const at: string[] = [];
    // Three cycles write overlapping ranges; before each (but the first) the bytes about to be
    // overwritten are saved, as reprotectApply does, then the point is committed.
    const cycles = [
      { pattern: '0x21', extents: [{ start: 0, length: 2 * MiB }] },
      { pattern: '0x22', extents: [{ start: MiB, length: 2 * MiB }] },
      {
        pattern: '0x23',
        extents: [
          { start: 2 * MiB, length: MiB },
          { start: 8 * MiB, length: 64 * 1024 },
        ],
      },
    ];
    for (const [i, c] of cycles.entries()) {
      const seq = i + 1;
      const key = `op_${seq}`;
      const dir = reversePointDir(storage, 'db-1', key);
      await mkdir(dir, { recursive: true });
      let undo: { bytes: number; sha256: Record<string, string> } | undefined;
      if (seq > 1) {
        const u = undoDir(dir);
        await mkdir(u, { recursive: true });
        const saved = await writeDeltaDisk(u, {
          target: 'vda',
          image: disk,
          format: 'qcow2',
          virtualSize: 16 * MiB,
          extents: c.extents,
        });
        await writeDeltaIndex(u, {
          version: 1,
          vm: 'db-1',
          operationId: key,
          pointId: 'p1',
          createdAt: new Date().toISOString(),
          source: 'test',
          disks: [saved],
        });
        undo = { bytes: saved.bytes, sha256: { vda: saved.sha256 } };
      }
      await qemuIo(
        disk,
        c.extents.map((e) => `write -P ${c.pattern} ${e.start} ${e.length}`),
      );
      await commitReversePoint(storage, {
        apiVersion: 'lifeboat/v1',
        kind: 'ReversePoint',
        seq,
        vm: 'db-1',
        operationId: key,
        key,
        commonPointId: 'p1',
        takenAt: new Date().toISOString(),
        committedAt: new Date().toISOString(),
        disks: [
          { target: 'vda', image: disk, format: 'qcow2', extents: c.extents, bytes: 0, deltaSha256: 'x' },
        ],
        ...(undo ? { undo } : {}),
      });
      const copy = join(work, `at-${seq}.qcow2`);
      await runProcess('cp', [disk, copy]);
      at.push(copy);
    }
    const rolled = async (seq: number) => {
      const out = join(work, `rolled-${seq}.qcow2`);
      await runProcess('cp', [disk, out]);
      await rollBackTo(storage, 'db-1', seq, new Map([['vda', { path: out, format: 'qcow2' }]]));
      return out;
    };
    expect((await scanReversePoints(storage, 'db-1')).points.map((p) => p.seq)).toEqual([1, 2, 3]);
    expect(await compareImages(await rolled(1), at[0]!)).toMatchObject({ identical: true });
    expect(await compareImages(await rolled(2), at[1]!)).toMatchObject({ identical: true });
    expect(await compareImages(await rolled(1), at[1]!)).toMatchObject({ identical: false });
    // A cycle killed after saving its undo, part-way into its writes: point 3 is still reachable.
    const pending = reversePointDir(storage, 'db-1', 'op_4');
    await mkdir(undoDir(pending), { recursive: true });
    const saved = await writeDeltaDisk(undoDir(pending), {
      target: 'vda',
      image: disk,
      format: 'qcow2',
      virtualSize: 16 * MiB,
      extents: [{ start: 4 * MiB, length: 2 * MiB }],
    });
    await writeDeltaIndex(undoDir(pending), {
      version: 1,
      vm: 'db-1',
      operationId: 'op_4',
      pointId: 'p1',
      createdAt: new Date().toISOString(),
      source: 'test',
      disks: [saved],
    });
    await qemuIo(disk, ['write -P 0x24 4M 1M']);
    expect(await compareImages(await rolled(3), at[2]!)).toMatchObject({ identical: true });
    expect(await compareImages(await rolled(2), at[1]!)).toMatchObject({ identical: true });
    await rm(pending, { recursive: true });
    await qemuIo(disk, ['write -P 0x00 4M 1M']);
    // Retention 2: point 1 goes, and point 2 its undo file (it led to point 1).
    expect(await pruneReversePoints(storage, 'db-1', 2)).toEqual(['op_1']);
    const kept = (await scanReversePoints(storage, 'db-1')).points;
    expect(kept.map((p) => [p.seq, p.undo !== undefined])).toEqual([
      [2, false],
      [3, true],
    ]);
    expect(await readDeltaIndex(undoDir(reversePointDir(storage, 'db-1', 'op_2')))).toBeNull();
    await expect(rolled(1)).rejects.toThrow(/no reverse point 1/);
    expect(await compareImages(await rolled(2), at[1]!)).toMatchObject({ identical: true });
    expect(await pruneReversePoints(storage, 'db-1', 2)).toEqual([]);
  });
});
