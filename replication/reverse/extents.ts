/**
 * Guest byte ranges for reprotect: what the active site wrote since failover and what the old
 * primary wrote after the common point, united and aligned to the clusters they were tracked in.
 * Pure.
 */
import { blocksToExtents, differingBlocks } from '../block-digests.ts';
import type { Extent } from '../chain.ts';

/** qcow2's default cluster and dirty-bitmap granularity: both sides track changes in 64 KiB. */
export const DELTA_GRANULARITY = 64 * 1024;

/** Sorted, merged (adjacent or overlapping ranges joined), empty ranges dropped. */
export function normalizeExtents(extents: readonly Extent[]): Extent[] {
  const sorted = extents.filter((e) => e.length > 0).sort((a, b) => a.start - b.start);
  const out: Extent[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.start <= last.start + last.length) {
      last.length = Math.max(last.length, e.start + e.length - last.start);
    } else out.push({ start: e.start, length: e.length });
  }
  return out;
}

export function unionExtents(...sets: ReadonlyArray<readonly Extent[]>): Extent[] {
  return normalizeExtents(sets.flat());
}

/** Widens every range to whole `granularity` units, clipped to the disk's size. */
export function alignExtents(extents: readonly Extent[], granularity: number, virtualSize: number): Extent[] {
  return normalizeExtents(
    extents.map((e) => {
      const start = Math.floor(e.start / granularity) * granularity;
      const end = Math.min(virtualSize, Math.ceil((e.start + e.length) / granularity) * granularity);
      return { start, length: end - start };
    }),
  );
}

export function totalLength(extents: readonly Extent[]): number {
  return extents.reduce((n, e) => n + e.length, 0);
}

/** One entry of `qemu-img map --output=json` read through NBD with `x-dirty-bitmap`. */
export interface BitmapMapEntry {
  start: number;
  length: number;
  data?: boolean;
  present?: boolean;
}

/**
 * The dirty ranges of a bitmap mapped through NBD's `qemu:dirty-bitmap:` context: qemu-img
 * reports a dirty range as a hole (`data: false`), a clean one as data.
 */
export function dirtyFromBitmapMap(entries: readonly BitmapMapEntry[]): Extent[] {
  return normalizeExtents(
    entries.filter((e) => e.data === false).map((e) => ({ start: e.start, length: e.length })),
  );
}

/** Ranges in `a` not in `b` (both normalized). */
export function subtractExtents(a: readonly Extent[], b: readonly Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of normalizeExtents(a)) {
    let pieces: Extent[] = [{ ...e }];
    for (const cut of b) {
      const next: Extent[] = [];
      for (const p of pieces) {
        const pEnd = p.start + p.length;
        const cEnd = cut.start + cut.length;
        if (cEnd <= p.start || cut.start >= pEnd) {
          next.push(p);
          continue;
        }
        if (cut.start > p.start) next.push({ start: p.start, length: cut.start - p.start });
        if (cEnd < pEnd) next.push({ start: cEnd, length: pEnd - cEnd });
      }
      pieces = next;
    }
    out.push(...pieces);
  }
  return normalizeExtents(out);
}

/**
 * The old primary's divergence found by block digests (its bitmaps gone): the blocks whose
 * digests differ from the common point's, as DELTA_GRANULARITY-aligned ranges; undefined when
 * the two lists do not describe the same disk shape.
 */
export function divergenceByDigests(
  mine: readonly Buffer[],
  point: { blocks: readonly Buffer[]; blockSize: number },
  virtualSize: number,
): Extent[] | undefined {
  const expected = Math.ceil(virtualSize / point.blockSize);
  if (mine.length !== expected || point.blocks.length !== expected) return undefined;
  const differing = blocksToExtents(differingBlocks(mine, point.blocks), virtualSize, point.blockSize);
  return alignExtents(differing, DELTA_GRANULARITY, virtualSize);
}
