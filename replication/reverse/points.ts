/**
 * Reverse points: the old primary keeps the runbook's `retention` of reverse cycles. The newest
 * point is the VM's disks themselves (what failback boots; its bitmaps and domain untouched);
 * each older one is kept as an undo file: before a cycle writes its ranges, the bytes those
 * ranges held are saved (the delta format, `undo/`), so the disks with the undo files of the
 * newer points written back, newest first, are that older point. Dropping the oldest point is
 * deleting a file, nothing is merged.
 *
 * `<storage>/reprotect/<vm>/points/<operation key>/point.json` is written last (atomically): a
 * point exists once its manifest does. A cycle killed before that leaves a directory with at most
 * a complete undo file (its index written last) and the disks somewhere between the previous
 * point and this one: the previous point is still the disks with that pending undo written back,
 * and the retry keeps the undo file and writes the ranges again (same bytes).
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import type { Extent } from '../chain.ts';
import { exists, writeFileAtomic } from '../fsutil.ts';
import { type DeltaDisk, type DeltaIndex, readDeltaIndex, writeDeltaDisk, writeDeltaIndex } from './delta.ts';
import { writeRanges } from './ranges.ts';

const extentSchema = z.object({ start: z.number().int().nonnegative(), length: z.number().int().positive() });

export const reversePointSchema = z.object({
  apiVersion: z.literal('lifeboat/v1'),
  kind: z.literal('ReversePoint'),
  /** 1 for the first cycle from a common point, then one more per cycle. */
  seq: z.number().int().positive(),
  vm: z.string(),
  /** The reprotect (reverse cycle) whose delta made it; its key names the directory. */
  operationId: z.string(),
  key: z.string(),
  /** The forward point both sides started from (the failover's). */
  commonPointId: z.string().nullable(),
  /** When the active site took the cycle's point in time (the delta's creation). */
  takenAt: z.string(),
  committedAt: z.string(),
  disks: z.array(
    z.object({
      target: z.string(),
      /** The old primary's disk the ranges were written into (this point's top). */
      image: z.string(),
      format: z.string(),
      /** The ranges the cycle wrote, and their bytes and sha256 as shipped. */
      extents: z.array(extentSchema),
      bytes: z.number().int().nonnegative(),
      deltaSha256: z.string(),
    }),
  ),
  /**
   * The bytes the cycle overwrote (per disk, in `undo/`): writing them back gives the previous
   * point. Absent for the oldest point kept (nothing older to return to).
   */
  undo: z
    .object({ bytes: z.number().int().nonnegative(), sha256: z.record(z.string(), z.string()) })
    .optional(),
  /** Why the points before this one were dropped when it was made (they no longer follow). */
  restartedBecause: z.string().optional(),
});

export type ReversePoint = z.infer<typeof reversePointSchema>;

export const POINT_FILE = 'point.json';

export function reversePointsDir(storage: string, vm: string): string {
  return join(storage, 'reprotect', vm, 'points');
}

export function reversePointDir(storage: string, vm: string, key: string): string {
  return join(reversePointsDir(storage, vm), key);
}

export function undoDir(pointDir: string): string {
  return join(pointDir, 'undo');
}

/** The committed points, oldest first, and the directories of cycles not (yet) committed. */
export async function scanReversePoints(
  storage: string,
  vm: string,
): Promise<{ points: ReversePoint[]; pending: string[] }> {
  const dir = reversePointsDir(storage, vm);
  if (!(await exists(dir))) return { points: [], pending: [] };
  const points: ReversePoint[] = [];
  const pending: string[] = [];
  for (const name of await readdir(dir)) {
    const file = join(dir, name, POINT_FILE);
    if (!(await exists(file))) {
      pending.push(join(dir, name));
      continue;
    }
    points.push(reversePointSchema.parse(JSON.parse(await readFile(file, 'utf8'))));
  }
  return { points: points.sort((a, b) => a.seq - b.seq), pending };
}

export async function commitReversePoint(storage: string, p: ReversePoint): Promise<void> {
  await writeFileAtomic(
    join(reversePointDir(storage, p.vm, p.key), POINT_FILE),
    `${JSON.stringify(reversePointSchema.parse(p), null, 2)}\n`,
  );
}

/**
 * Which points retention drops (the oldest beyond `keep`) and whether the oldest one kept loses
 * its undo file (it would lead to a dropped point). Pure.
 */
export function planReverseRetention(
  points: readonly ReversePoint[],
  keep: number,
): { drop: ReversePoint[]; stripUndo?: ReversePoint } {
  const n = Math.max(1, keep);
  const drop = points.slice(0, Math.max(0, points.length - n));
  const oldestKept = points[drop.length];
  return { drop, ...(oldestKept?.undo !== undefined ? { stripUndo: oldestKept } : {}) };
}

/**
 * Keeps the newest `keep` points. Order for a kill at any step: the dropped manifests go oldest
 * first (the listing stays a run of consecutive points, each reachable), then their directories,
 * then the oldest kept point's undo file (manifest rewritten first). A later call finishes it.
 */
export async function pruneReversePoints(storage: string, vm: string, keep: number): Promise<string[]> {
  return (await prune(storage, vm, keep)).dropped;
}

async function prune(
  storage: string,
  vm: string,
  keep: number,
): Promise<{ dropped: string[]; kept: number }> {
  const { points } = await scanReversePoints(storage, vm);
  const plan = planReverseRetention(points, keep);
  await dropPoints(storage, vm, plan.drop);
  if (plan.stripUndo) {
    const { undo: _, ...rest } = plan.stripUndo;
    await commitReversePoint(storage, rest);
    await rm(undoDir(reversePointDir(storage, vm, rest.key)), { recursive: true, force: true });
  }
  return { dropped: plan.drop.map((p) => p.operationId), kept: points.length - plan.drop.length };
}

/**
 * Drops `points` (and any other directories given): every manifest first, oldest first, so a
 * kill part-way leaves a run of consecutive points; then the directories.
 */
async function dropPoints(
  storage: string,
  vm: string,
  points: readonly ReversePoint[],
  alsoDirs: readonly string[] = [],
): Promise<void> {
  for (const p of points) await rm(join(reversePointDir(storage, vm, p.key), POINT_FILE), { force: true });
  for (const dir of [...points.map((p) => reversePointDir(storage, vm, p.key)), ...alsoDirs])
    await rm(dir, { recursive: true, force: true });
}

/**
 * Writes into `disks` (copies of the old primary's disks, by target) the point `seq`: the
 * pending cycle's undo first (the disks may be part-way into it; a new cycle drops every point
 * when it finds another's pending, so there is at most one and it is the newest), then every
 * newer point's undo, newest first. The copies must be taken while nothing writes the disks.
 */
export async function rollBackTo(
  storage: string,
  vm: string,
  seq: number,
  disks: ReadonlyMap<string, { path: string; format: string }>,
): Promise<void> {
  const { points, pending } = await scanReversePoints(storage, vm);
  if (!points.some((p) => p.seq === seq)) throw new Error(`${vm} has no reverse point ${seq}`);
  const newer = points.filter((p) => p.seq > seq).reverse();
  const undos = [
    ...pending.map(undoDir),
    ...newer.map((p) => {
      if (p.undo === undefined) throw new Error(`reverse point ${p.seq} of ${vm} keeps no undo file`);
      return undoDir(reversePointDir(storage, vm, p.key));
    }),
  ];
  for (const dir of undos) {
    const index = await readDeltaIndex(dir);
    if (index === null) continue; // an undo never completed: nothing was written after it
    for (const d of index.disks) {
      const disk = disks.get(d.target);
      if (!disk) throw new Error(`no copy of ${d.target} to roll back`);
      await writeRanges(disk.path, disk.format, join(dir, d.file), d.extents);
    }
  }
}

/** The reverse point an applied cycle made at the old primary, and what retention did. */
export interface ReversePointResult {
  seq: number;
  key: string;
  /** Bytes the cycle overwrote, kept to return to the previous point (0: none kept). */
  undoBytes: number;
  /** Points kept after retention (this one included), and the operations whose points went. */
  kept: number;
  dropped: string[];
  restartedBecause?: string;
}

/** A disk of the old primary's VM, as the driver reports it. */
interface PointDisk {
  target: string;
  source: string;
  format: string;
}

/** A reverse point being made by `reprotectApply` (committed: made by an earlier attempt). */
export interface PendingPoint {
  key: string;
  index: DeltaIndex;
  disks: readonly PointDisk[];
  seq: number;
  undo?: DeltaIndex;
  restartedBecause?: string;
  committed?: ReversePoint;
}

/**
 * Before a cycle writes the old primary's disks: the reverse point it will make, and (when the
 * previous point still follows) the bytes it is about to overwrite, saved once. Points that no
 * longer follow are dropped first: another common point, the old primary written since its
 * last reprotect (its divergence), another cycle left unfinished.
 */
export async function beginReversePoint(
  deps: { storage: string; site: string; onProgress?: () => void },
  input: {
    operationId: string;
    key: string;
    /** The cycle's delta (what it will write). */
    index: DeltaIndex;
    disks: readonly PointDisk[];
    /** This cycle's divergence at the old primary (what was written since the last reprotect). */
    divergence: { disks: ReadonlyArray<{ extents: readonly Extent[]; unknown?: string }> } | null;
  },
): Promise<PendingPoint> {
  const { storage } = deps;
  const { index, key, disks } = input;
  const vm = index.vm;
  const dir = reversePointDir(storage, vm, key);
  const { points, pending } = await scanReversePoints(storage, vm);
  const mine = points.find((p) => p.key === key);
  if (mine) return { key, index, disks, seq: mine.seq, committed: mine };
  const prev = points.at(-1);
  const others = pending.filter((p) => p !== dir);
  const why =
    prev === undefined
      ? undefined
      : prev.commonPointId !== index.pointId
        ? `they were from point ${prev.commonPointId}, this cycle from ${index.pointId}`
        : others.length > 0
          ? `another cycle did not finish (${others.map((o) => basename(o)).join(', ')})`
          : input.divergence?.disks.some((d) => d.extents.length > 0 || d.unknown !== undefined)
            ? `${vm} was written at site ${deps.site} since the last one`
            : undefined;
  if (why !== undefined || others.length > 0) await dropPoints(storage, vm, points, others);
  const follows = prev !== undefined && why === undefined;
  await mkdir(dir, { recursive: true });
  const undo = undoDir(dir);
  let saved = follows ? await readDeltaIndex(undo) : null;
  if (follows && saved === null) {
    await rm(undo, { recursive: true, force: true });
    await mkdir(undo, { recursive: true });
    const kept: DeltaDisk[] = [];
    for (const d of index.disks) {
      const disk = disks.find((x) => x.target === d.target);
      if (!disk) continue;
      const from = { target: d.target, image: disk.source, format: disk.format };
      kept.push(
        await writeDeltaDisk(
          undo,
          { ...from, virtualSize: d.virtualSize, extents: d.extents },
          deps.onProgress ? { onProgress: deps.onProgress } : {},
        ),
      );
    }
    saved = {
      version: 1,
      vm,
      operationId: input.operationId,
      pointId: index.pointId,
      createdAt: new Date().toISOString(),
      source: `${vm} at site ${deps.site} before ${input.operationId} wrote it`,
      reason: 'the bytes a reverse cycle overwrote: writing them back returns to the previous point',
      disks: kept,
    };
    await writeDeltaIndex(undo, saved);
  }
  return {
    key,
    index,
    disks,
    seq: follows && prev ? prev.seq + 1 : 1,
    ...(saved === null ? {} : { undo: saved }),
    ...(why === undefined ? {} : { restartedBecause: why }),
  };
}

/** The cycle's writes are done: its point exists from here on; then the oldest ones go. */
export async function commitPendingPoint(
  storage: string,
  p: PendingPoint,
  keep: number,
): Promise<ReversePointResult> {
  let point = p.committed;
  if (point === undefined) {
    point = {
      apiVersion: 'lifeboat/v1',
      kind: 'ReversePoint',
      seq: p.seq,
      vm: p.index.vm,
      operationId: p.index.operationId,
      key: p.key,
      commonPointId: p.index.pointId,
      takenAt: p.index.createdAt,
      committedAt: new Date().toISOString(),
      disks: p.index.disks.map((d) => {
        const disk = p.disks.find((x) => x.target === d.target);
        return {
          target: d.target,
          image: disk?.source ?? '',
          format: disk?.format ?? 'qcow2',
          extents: d.extents,
          bytes: d.bytes,
          deltaSha256: d.sha256,
        };
      }),
      ...(p.undo === undefined
        ? {}
        : {
            undo: {
              bytes: p.undo.disks.reduce((n, d) => n + d.bytes, 0),
              sha256: Object.fromEntries(p.undo.disks.map((d) => [d.target, d.sha256])),
            },
          }),
      ...(p.restartedBecause === undefined ? {} : { restartedBecause: p.restartedBecause }),
    };
    await commitReversePoint(storage, point);
  }
  const { dropped, kept } = await prune(storage, point.vm, keep);
  return {
    seq: point.seq,
    key: point.key,
    undoBytes: point.undo?.bytes ?? 0,
    kept,
    dropped,
    ...(point.restartedBecause === undefined ? {} : { restartedBecause: point.restartedBecause }),
  };
}
