import { describe, expect, it } from 'vitest';
import { ownLayer } from '../../../replication/chain.ts';
import {
  alignExtents,
  DELTA_GRANULARITY,
  dirtyFromBitmapMap,
  divergenceByDigests,
  normalizeExtents,
  subtractExtents,
  totalLength,
  unionExtents,
} from '../../../replication/reverse/extents.ts';

const K = 1024;
const G = DELTA_GRANULARITY;

describe('reprotect extents', () => {
  it('unites overlapping, adjacent and unordered ranges once', () => {
    expect(
      unionExtents(
        [
          { start: 10 * G, length: G },
          { start: 0, length: G },
        ],
        [
          { start: G, length: G },
          { start: 10 * G + 4 * K, length: 2 * G },
          { start: 20 * G, length: 0 },
        ],
      ),
    ).toEqual([
      { start: 0, length: 2 * G },
      { start: 10 * G, length: 2 * G + 4 * K },
    ]);
  });

  it('counts a block written on both sides once', () => {
    const ours = [{ start: 0, length: 4 * G }];
    const theirs = [{ start: 2 * G, length: 4 * G }];
    expect(totalLength(unionExtents(ours, theirs))).toBe(6 * G);
  });

  it('aligns to whole clusters and clips at the end of the disk', () => {
    const size = 10 * G + 512;
    expect(alignExtents([{ start: G + 1, length: 10 }], G, size)).toEqual([{ start: G, length: G }]);
    expect(alignExtents([{ start: 10 * G + 100, length: 10 }], G, size)).toEqual([
      { start: 10 * G, length: 512 },
    ]);
    // Two writes in the same cluster become that one cluster.
    expect(
      alignExtents(
        [
          { start: 3 * G + 10, length: 5 },
          { start: 3 * G + 40 * K, length: 5 },
        ],
        G,
        size,
      ),
    ).toEqual([{ start: 3 * G, length: G }]);
  });

  it('reads dirty ranges as the holes of an NBD dirty-bitmap map', () => {
    // What qemu-img map printed for a bitmap with 128 KiB dirty at 4 MiB and 64 KiB at 10 MiB.
    const map = [
      { start: 0, length: 4194304, present: true, data: true },
      { start: 4194304, length: 131072, present: false, data: false },
      { start: 4325376, length: 6160384, present: true, data: true },
      { start: 10485760, length: 65536, present: false, data: false },
      { start: 10551296, length: 56557568, present: true, data: true },
    ];
    expect(dirtyFromBitmapMap(map)).toEqual([
      { start: 4194304, length: 131072 },
      { start: 10485760, length: 65536 },
    ]);
    expect(dirtyFromBitmapMap([{ start: 0, length: 64 * G, data: true }])).toEqual([]);
  });

  it('subtracts ranges', () => {
    expect(subtractExtents([{ start: 0, length: 10 * G }], [{ start: 2 * G, length: 3 * G }])).toEqual([
      { start: 0, length: 2 * G },
      { start: 5 * G, length: 5 * G },
    ]);
    expect(subtractExtents([{ start: 0, length: G }], [{ start: 0, length: 2 * G }])).toEqual([]);
  });

  it('normalizes to sorted, disjoint ranges', () => {
    const n = normalizeExtents([
      { start: 50, length: 10 },
      { start: 0, length: 60 },
      { start: 70, length: 1 },
    ]);
    expect(n).toEqual([
      { start: 0, length: 60 },
      { start: 70, length: 1 },
    ]);
  });
});

describe('divergenceByDigests (the old primary’s bitmaps gone)', () => {
  const MiB = 1024 * 1024;
  const d = (n: number) => Buffer.alloc(32, n);
  const point = { blocks: [d(0), d(1), d(2), d(3), d(4)], blockSize: MiB };
  const size = 4 * MiB + 512 * 1024; // the last block is half a block

  it('names the blocks whose digests differ from the point’s, merged and clipped to the disk', () => {
    const mine = [d(0), d(9), d(9), d(3), d(8)];
    expect(divergenceByDigests(mine, point, size)).toEqual([
      { start: MiB, length: 2 * MiB },
      { start: 4 * MiB, length: 512 * 1024 },
    ]);
    expect(divergenceByDigests(point.blocks, point, size)).toEqual([]);
  });

  it('refuses lists that do not describe the same disk shape', () => {
    expect(divergenceByDigests(point.blocks.slice(1), point, size)).toBeUndefined();
    expect(divergenceByDigests(point.blocks, point, 8 * MiB)).toBeUndefined();
  });
});

describe('ownLayer', () => {
  it("keeps the top layer's ranges, zeroed clusters included, not the backing file's", () => {
    expect(
      ownLayer([
        { start: 0, length: 65536, depth: 1, present: true },
        { start: 65536, length: 65536, depth: 0, present: true },
        { start: 131072, length: 65536, depth: 0, present: true },
        { start: 196608, length: 65536, depth: 1, present: false },
      ]),
    ).toEqual([{ start: 65536, length: 131072 }]);
  });
  it('drops the holes an image with no backing file reports at depth 0 (present: false)', () => {
    // A backup target without a backing file in its header maps its unwritten clusters at depth
    // 0, not present: they are not writes, and a delta built from them would ship zeros.
    expect(
      ownLayer([
        { start: 0, length: 131072, depth: 0, present: false },
        { start: 131072, length: 65536, depth: 0, present: true },
        { start: 196608, length: 131072, depth: 0, present: false },
        { start: 327680, length: 65536, depth: 0 },
      ]),
    ).toEqual([
      { start: 131072, length: 65536 },
      { start: 327680, length: 65536 },
    ]);
  });
});
