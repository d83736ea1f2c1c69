/**
 * Reprotect's data plane against disk size (`npx tsx bench/reprotect.ts [--quick]`), on real
 * qcow2 files, no lab and no link: a point holding data, the active side's overlay on it with 1%
 * of the disk written in random 64 KiB clusters, and the old primary's copy of the point with
 * 0.1% written after it (tracked by its bitmap). Per size: the ranges found (overlay's clusters
 * ∪ the old primary's bitmap), the delta's bytes against the disk size and the changed bytes,
 * and the time of each step (divergence, delta copy, apply), then `qemu-img compare` of the
 * result. The lab's round trip (failover, reprotect) is measured by
 * test/integration/failback/reprotect.test.ts, which prints its figures.
 * Writes bench/results/reprotect.json.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { compareImages, createImage, createOverlay, layerExtents } from '../replication/chain.ts';
import { writeDeltaDisk } from '../replication/reverse/delta.ts';
import {
  alignExtents,
  DELTA_GRANULARITY,
  totalLength,
  unionExtents,
} from '../replication/reverse/extents.ts';
import { dirtySince, writeRanges } from '../replication/reverse/ranges.ts';

const pexec = promisify(execFile);
const MiB = 1024 * 1024;
const quick = process.argv.includes('--quick');
const sizes = quick ? [64 * MiB, 256 * MiB] : [64 * MiB, 256 * MiB, 1024 * MiB];

/** Deterministic cluster indexes (a linear congruential sequence), distinct. */
function clusters(n: number, total: number, seed: number): number[] {
  const out = new Set<number>();
  let x = seed;
  while (out.size < n) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.add(x % total);
  }
  return [...out];
}

async function qemuIo(image: string, commands: string[]): Promise<void> {
  // Batches keep the argument list short.
  for (let i = 0; i < commands.length; i += 500) {
    await pexec('qemu-io', ['-f', 'qcow2', ...commands.slice(i, i + 500).flatMap((c) => ['-c', c]), image], {
      maxBuffer: 64 * MiB,
    });
  }
}

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round(performance.now() - t0)];
}

async function one(dir: string, size: number) {
  const total = size / DELTA_GRANULARITY;
  const point = path.join(dir, 'point.qcow2');
  await createImage(point, size);
  await qemuIo(point, [`write -P 0x11 0 ${size / 2}`]);
  const old = path.join(dir, 'old.qcow2');
  await pexec('cp', [point, old]);
  await pexec('qemu-img', ['bitmap', '--add', '--enable', old, 'cp-p']);
  const theirs = clusters(Math.max(1, Math.round(total * 0.001)), total, 7);
  await qemuIo(
    old,
    theirs.map((c) => `write -P 0xa1 ${c * DELTA_GRANULARITY} 64k`),
  );
  const overlay = path.join(dir, 'active.qcow2');
  await createOverlay(overlay, point);
  const ours = clusters(Math.max(1, Math.round(total * 0.01)), total, 13);
  await qemuIo(
    overlay,
    ours.map((c) => `write -P 0xb1 ${c * DELTA_GRANULARITY} 64k`),
  );
  const changed = new Set([...ours, ...theirs]).size * DELTA_GRANULARITY;

  const [dirty, divergenceMs] = await time(() => dirtySince(old, 'cp-p'));
  if (!dirty.ok) throw new Error(dirty.reason);
  const [union, mapMs] = await time(async () =>
    alignExtents(unionExtents(await layerExtents(overlay), dirty.extents), DELTA_GRANULARITY, size),
  );
  const out = path.join(dir, 'delta');
  mkdirSync(out);
  const [delta, copyMs] = await time(() =>
    writeDeltaDisk(out, {
      target: 'vda',
      image: overlay,
      format: 'qcow2',
      virtualSize: size,
      extents: union,
    }),
  );
  const [, applyMs] = await time(() => writeRanges(old, 'qcow2', path.join(out, delta.file), union));
  const cmp = await compareImages(overlay, old);
  return {
    diskMiB: size / MiB,
    changedBytes: changed,
    deltaBytes: delta.bytes,
    ranges: union.length,
    deltaOverChanged: Number((delta.bytes / changed).toFixed(3)),
    deltaOverDisk: Number((totalLength(union) / size).toFixed(4)),
    ms: {
      divergence: divergenceMs,
      map: mapMs,
      copy: copyMs,
      apply: applyMs,
      total: divergenceMs + mapMs + copyMs + applyMs,
    },
    identical: cmp.identical,
  };
}

const rows = [];
for (const size of sizes) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-bench-reprotect-'));
  try {
    const r = await one(dir, size);
    console.log(JSON.stringify(r));
    rows.push(r);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/reprotect.json',
  `${JSON.stringify({ at: new Date().toISOString(), quick, writesAtActive: '1% in 64 KiB clusters', writesAtOld: '0.1%', rows }, null, 2)}\n`,
);
