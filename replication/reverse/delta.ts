/**
 * A reprotect delta (and a divergent-blocks side file, which has the same shape): per disk one
 * data file holding the guest bytes of its ranges back to back, and one index (`delta.json`)
 * naming every disk's ranges, size and sha256. The index is written last and atomically, so a
 * directory with an index is complete; one without is a leftover to redo.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Extent } from '../chain.ts';
import { exists, fsyncFile, sha256File, writeFileAtomic } from '../fsutil.ts';
import { readRanges } from './ranges.ts';

export const DELTA_INDEX = 'delta.json';

const extentSchema = z.object({ start: z.number().int().nonnegative(), length: z.number().int().positive() });

const deltaDiskSchema = z.object({
  target: z.string(),
  file: z.string(),
  virtualSize: z.number().int().nonnegative(),
  extents: z.array(extentSchema),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** Why the whole disk is in it (no common point, bitmaps unusable), when it is. */
  fullReason: z.string().optional(),
});

export const deltaIndexSchema = z.object({
  version: z.literal(1),
  vm: z.string(),
  /** What made it: the reprotect operation, and the common point when there is one. */
  operationId: z.string(),
  pointId: z.string().nullable(),
  createdAt: z.string(),
  /** Free text: where the bytes came from (which image, which snapshot). */
  source: z.string(),
  reason: z.string().optional(),
  disks: z.array(deltaDiskSchema),
});

export type DeltaDisk = z.infer<typeof deltaDiskSchema>;
export type DeltaIndex = z.infer<typeof deltaIndexSchema>;

export async function readDeltaIndex(dir: string): Promise<DeltaIndex | null> {
  const file = join(dir, DELTA_INDEX);
  if (!(await exists(file))) return null;
  return deltaIndexSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

/** Copies `extents` of `image` into `<dir>/<target>.delta` and describes it. */
export async function writeDeltaDisk(
  dir: string,
  d: {
    target: string;
    image: string;
    format: string;
    virtualSize: number;
    extents: Extent[];
    fullReason?: string;
  },
  opts: { forceShare?: boolean; onProgress?: () => void } = {},
): Promise<DeltaDisk> {
  const file = `${d.target}.delta`;
  const path = join(dir, file);
  await rm(path, { force: true });
  const bytes = await readRanges(d.image, d.format, d.extents, path, opts);
  await fsyncFile(path);
  const digest = await sha256File(path);
  return {
    target: d.target,
    file,
    virtualSize: d.virtualSize,
    extents: d.extents,
    bytes,
    sha256: digest.sha256,
    ...(d.fullReason === undefined ? {} : { fullReason: d.fullReason }),
  };
}

export async function writeDeltaIndex(dir: string, index: DeltaIndex): Promise<void> {
  await writeFileAtomic(
    join(dir, DELTA_INDEX),
    `${JSON.stringify(deltaIndexSchema.parse(index), null, 2)}\n`,
  );
}
