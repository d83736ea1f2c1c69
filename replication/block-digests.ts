/**
 * The pure half of the content digest: per-block sha256 digests of a disk's guest view, the
 * Merkle root over them, and the block arithmetic a resync needs (which blocks differ, which
 * blocks a set of changed ranges touches). No I/O here; content-digest.ts reads the disks.
 */
import { createHash } from 'node:crypto';
import type { Extent } from './chain.ts';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
export const CONTENT_DIGEST_ALGORITHM = 'merkle-sha256-v1';
const DIGEST_BYTES = 32;

export interface ContentDigest {
  algorithm: typeof CONTENT_DIGEST_ALGORITHM;
  blockSize: number;
  virtualSize: number;
  /** Hex root; equal roots mean equal guest content whatever the files' layout. */
  root: string;
}

export function blockCount(virtualSize: number, blockSize: number): number {
  return Math.ceil(virtualSize / blockSize);
}

/** Length of block `index`: every block is `blockSize` except possibly the last. */
export function blockLength(index: number, virtualSize: number, blockSize: number): number {
  return Math.min(blockSize, virtualSize - index * blockSize);
}

export function digestBlock(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

const zeroDigests = new Map<number, Buffer>();
/** Most of a disk is zeros; their digest is computed once per length. */
export function zeroBlockDigest(length: number): Buffer {
  let d = zeroDigests.get(length);
  if (d === undefined) {
    d = digestBlock(Buffer.alloc(length));
    zeroDigests.set(length, d);
  }
  return d;
}

const NODE_PREFIX = Buffer.from([0x01]);
const ROOT_PREFIX = Buffer.from([0x02]);

/**
 * Binary Merkle tree over the block digests (an odd node is carried up unchanged), bound to
 * the virtual size and block size so two disks of different shapes never share a root.
 */
export function merkleRoot(blocks: readonly Buffer[], virtualSize: number, blockSize: number): ContentDigest {
  if (blocks.length !== blockCount(virtualSize, blockSize)) {
    throw new RangeError(
      `expected ${blockCount(virtualSize, blockSize)} block digests for ${virtualSize} bytes, got ${blocks.length}`,
    );
  }
  let level: Buffer[] = [...blocks];
  if (level.length === 0) level = [digestBlock(new Uint8Array(0))];
  // Most of a large disk is zeros, so most pairs at each level are two equal zero subtrees: the
  // parent of the pair last seen twice is reused (a 16 GiB disk holding 1 GiB hashes ~2,000
  // nodes instead of ~16,000). Same root as hashing every pair.
  let twin: { of: Buffer; parent: Buffer } | undefined;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1];
      if (right === undefined) next.push(left);
      else if (twin !== undefined && left.equals(twin.of) && right.equals(twin.of)) next.push(twin.parent);
      else {
        const parent = createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
        if (left.equals(right)) twin = { of: left, parent };
        next.push(parent);
      }
    }
    level = next;
    twin = undefined;
  }
  const shape = Buffer.alloc(12);
  shape.writeBigUInt64BE(BigInt(virtualSize), 0);
  shape.writeUInt32BE(blockSize, 8);
  const root = createHash('sha256').update(ROOT_PREFIX).update(shape).update(level[0]!).digest('hex');
  return { algorithm: CONTENT_DIGEST_ALGORITHM, blockSize, virtualSize, root };
}

/** The block list as stored next to a point: 32 bytes per block, in order. */
export function encodeBlockDigests(blocks: readonly Buffer[]): Buffer {
  return Buffer.concat(blocks as Buffer[], blocks.length * DIGEST_BYTES);
}

export function decodeBlockDigests(data: Buffer): Buffer[] {
  if (data.length % DIGEST_BYTES !== 0) {
    throw new RangeError(`a block digest list is a multiple of ${DIGEST_BYTES} bytes, got ${data.length}`);
  }
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += DIGEST_BYTES) out.push(data.subarray(off, off + DIGEST_BYTES));
  return out;
}

/** Indexes of the blocks whose digests differ: what a resync must ship. */
export function differingBlocks(a: readonly Buffer[], b: readonly Buffer[]): number[] {
  if (a.length !== b.length) throw new RangeError(`block lists differ in length: ${a.length} vs ${b.length}`);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (!a[i]!.equals(b[i]!)) out.push(i);
  return out;
}

/** Sorted block indexes touched by byte ranges (a range may cover a block partly). */
export function blocksTouched(extents: readonly Extent[], virtualSize: number, blockSize: number): number[] {
  const set = new Set<number>();
  for (const e of extents) {
    if (e.length <= 0) continue;
    const first = Math.floor(e.start / blockSize);
    const last = Math.min(
      Math.floor((e.start + e.length - 1) / blockSize),
      blockCount(virtualSize, blockSize) - 1,
    );
    for (let i = first; i <= last; i++) set.add(i);
  }
  return [...set].sort((x, y) => x - y);
}

/** Merges block indexes into byte ranges, clipped to the disk's end. */
export function blocksToExtents(
  indexes: readonly number[],
  virtualSize: number,
  blockSize: number,
): Extent[] {
  const sorted = [...new Set(indexes)].sort((x, y) => x - y);
  const out: Extent[] = [];
  for (const i of sorted) {
    const start = i * blockSize;
    const length = blockLength(i, virtualSize, blockSize);
    const last = out[out.length - 1];
    if (last && last.start + last.length === start) last.length += length;
    else out.push({ start, length });
  }
  return out;
}

/**
 * Merges ranges so that at most `maxRuns` remain, across the smallest gaps first (ties: the
 * earlier gap), and across every gap of at most `cheapGap` bytes: each range costs a reader
 * process, so reading a small gap beats a spawn, but a large one must not be read just because
 * the gaps happen to be equal (evenly spread changes would otherwise read the whole disk).
 */
export function coalesceRuns(extents: readonly Extent[], maxRuns: number, cheapGap = 0): Extent[] {
  const runs = [...extents].sort((a, b) => a.start - b.start).map((e) => ({ ...e }));
  if (runs.length === 0) return runs;
  const gaps = runs.slice(1).map((r, i) => ({ at: i, size: r.start - (runs[i]!.start + runs[i]!.length) }));
  const bySize = [...gaps].sort((a, b) => a.size - b.size || a.at - b.at);
  const merge = new Set<number>();
  const mustMerge = Math.max(0, runs.length - Math.max(1, maxRuns));
  for (const [k, g] of bySize.entries()) {
    if (k < mustMerge || g.size <= cheapGap) merge.add(g.at);
  }
  const out: Extent[] = [runs[0]!];
  for (let i = 1; i < runs.length; i++) {
    const r = runs[i]!;
    const last = out[out.length - 1]!;
    if (merge.has(i - 1)) last.length = Math.max(last.start + last.length, r.start + r.length) - last.start;
    else out.push(r);
  }
  return out;
}

/** Blocks lying entirely inside `zeroExtents` (known to read as zeros without reading them). */
export function blocksKnownZero(
  zeroExtents: readonly Extent[],
  virtualSize: number,
  blockSize: number,
): Set<number> {
  const out = new Set<number>();
  const sorted = [...zeroExtents].sort((a, b) => a.start - b.start);
  // Merge first: a block may be covered by several adjacent zero ranges.
  const merged: Extent[] = [];
  for (const e of sorted) {
    const last = merged[merged.length - 1];
    if (last && e.start <= last.start + last.length) {
      last.length = Math.max(last.length, e.start + e.length - last.start);
    } else merged.push({ ...e });
  }
  for (const e of merged) {
    const first = Math.ceil(e.start / blockSize);
    for (let i = first; i < blockCount(virtualSize, blockSize); i++) {
      if (i * blockSize + blockLength(i, virtualSize, blockSize) > e.start + e.length) break;
      out.add(i);
    }
  }
  return out;
}
