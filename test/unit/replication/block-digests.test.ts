import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  blockCount,
  blocksKnownZero,
  blocksToExtents,
  blocksTouched,
  coalesceRuns,
  decodeBlockDigests,
  differingBlocks,
  digestBlock,
  encodeBlockDigests,
  merkleRoot,
  zeroBlockDigest,
} from '../../../replication/block-digests.ts';

const KiB = 1024;

function blocksOf(data: Buffer, blockSize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += blockSize)
    out.push(digestBlock(data.subarray(off, off + blockSize)));
  return out;
}

describe('merkleRoot', () => {
  const data = Buffer.alloc(10 * KiB + 512, 7);
  const blocks = blocksOf(data, 4 * KiB);

  it('counts a partial last block', () => {
    expect(blockCount(data.length, 4 * KiB)).toBe(3);
    expect(blocks).toHaveLength(3);
  });

  it('is stable and changes when any one block changes', () => {
    const root = merkleRoot(blocks, data.length, 4 * KiB).root;
    expect(merkleRoot(blocks, data.length, 4 * KiB).root).toBe(root);
    for (let i = 0; i < blocks.length; i++) {
      const changed = [...blocks];
      changed[i] = digestBlock(Buffer.from(`other ${i}`));
      expect(merkleRoot(changed, data.length, 4 * KiB).root).not.toBe(root);
    }
  });

  it('binds the disk shape: same digests under another virtual size give another root', () => {
    const a = merkleRoot(blocks, data.length, 4 * KiB).root;
    const b = merkleRoot(blocks, data.length + 512, 4 * KiB).root;
    expect(a).not.toBe(b);
  });

  it('refuses a digest list of the wrong length', () => {
    expect(() => merkleRoot(blocks.slice(1), data.length, 4 * KiB)).toThrow(RangeError);
  });

  it('swapping two different blocks changes the root (order matters)', () => {
    const d = Buffer.concat([Buffer.alloc(4 * KiB, 1), Buffer.alloc(4 * KiB, 2)]);
    const b = blocksOf(d, 4 * KiB);
    expect(merkleRoot(b, d.length, 4 * KiB).root).not.toBe(
      merkleRoot([b[1]!, b[0]!], d.length, 4 * KiB).root,
    );
  });

  it('runs of equal blocks (zero subtrees) give the root of hashing every pair', () => {
    const P = Buffer.from([1]);
    const plainRoot = (leaves: Buffer[], size: number, bs: number): string => {
      let level = leaves;
      while (level.length > 1) {
        const next: Buffer[] = [];
        for (let i = 0; i < level.length; i += 2) {
          const r = level[i + 1];
          next.push(
            r === undefined ? level[i]! : createHash('sha256').update(P).update(level[i]!).update(r).digest(),
          );
        }
        level = next;
      }
      const shape = Buffer.alloc(12);
      shape.writeBigUInt64BE(BigInt(size), 0);
      shape.writeUInt32BE(bs, 8);
      return createHash('sha256')
        .update(Buffer.from([2]))
        .update(shape)
        .update(level[0]!)
        .digest('hex');
    };
    const z = zeroBlockDigest(KiB);
    for (const n of [1, 2, 3, 7, 64, 1000, 1025]) {
      for (const data of [[], [0], [n - 1], [1, 2, 5], [0, Math.floor(n / 2), n - 1]]) {
        // Zero blocks as distinct buffers of equal content, as decoded from a stored list.
        const leaves = Array.from({ length: n }, (_, i) =>
          data.includes(i) ? digestBlock(Buffer.from(`block ${i}`)) : Buffer.from(z),
        );
        expect(merkleRoot(leaves, n * KiB, KiB).root).toBe(plainRoot(leaves, n * KiB, KiB));
      }
    }
  });

  it('the zero shortcut equals hashing zeros', () => {
    expect(zeroBlockDigest(4 * KiB).equals(digestBlock(Buffer.alloc(4 * KiB)))).toBe(true);
  });
});

describe('block digest lists', () => {
  it('round-trip through their stored form', () => {
    const blocks = [digestBlock(Buffer.from('a')), digestBlock(Buffer.from('b'))];
    const back = decodeBlockDigests(encodeBlockDigests(blocks));
    expect(back.map((b) => b.toString('hex'))).toEqual(blocks.map((b) => b.toString('hex')));
    expect(() => decodeBlockDigests(Buffer.alloc(33))).toThrow(RangeError);
  });

  it('differingBlocks names exactly the blocks a resync must ship', () => {
    const a = [0, 1, 2, 3].map((i) => digestBlock(Buffer.from([i])));
    const b = [...a];
    b[1] = digestBlock(Buffer.from('x'));
    b[3] = digestBlock(Buffer.from('y'));
    expect(differingBlocks(a, b)).toEqual([1, 3]);
    expect(() => differingBlocks(a, b.slice(1))).toThrow(RangeError);
  });
});

describe('blocksTouched / blocksToExtents', () => {
  it('maps byte ranges to the blocks they touch, partial blocks included', () => {
    expect(blocksTouched([{ start: 4095, length: 2 }], 16 * KiB, 4 * KiB)).toEqual([0, 1]);
    expect(blocksTouched([{ start: 8192, length: 4096 }], 16 * KiB, 4 * KiB)).toEqual([2]);
    expect(blocksTouched([{ start: 0, length: 0 }], 16 * KiB, 4 * KiB)).toEqual([]);
  });

  it('merges adjacent blocks and clips the last one to the disk', () => {
    expect(blocksToExtents([3, 0, 1], 13 * KiB, 4 * KiB)).toEqual([
      { start: 0, length: 8 * KiB },
      { start: 12 * KiB, length: 1 * KiB },
    ]);
  });

  it('every touched byte lies in a returned extent, and no extent passes the disk end', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }).chain((nBlocks) =>
          fc.tuple(
            fc.constant(nBlocks * 512 - 100),
            fc.array(fc.tuple(fc.nat(nBlocks * 512 - 101), fc.integer({ min: 1, max: 2000 })), {
              maxLength: 8,
            }),
          ),
        ),
        ([size, ranges]) => {
          const bs = 512;
          const extents = ranges.map(([start, len]) => ({ start, length: Math.min(len, size - start) }));
          const out = blocksToExtents(blocksTouched(extents, size, bs), size, bs);
          for (const e of extents) {
            for (const byte of [e.start, e.start + e.length - 1]) {
              expect(out.some((o) => byte >= o.start && byte < o.start + o.length)).toBe(true);
            }
          }
          for (const o of out) expect(o.start + o.length).toBeLessThanOrEqual(size);
        },
      ),
    );
  });
});

describe('coalesceRuns', () => {
  const runs = [
    { start: 0, length: 10 },
    { start: 12, length: 3 },
    { start: 100, length: 5 },
    { start: 1000, length: 1 },
  ];
  it('keeps runs as they are when few enough', () => {
    expect(coalesceRuns(runs, 4)).toEqual(runs);
  });
  it('merges across the smallest gaps first and covers every input byte', () => {
    expect(coalesceRuns(runs, 3)).toEqual([
      { start: 0, length: 15 },
      { start: 100, length: 5 },
      { start: 1000, length: 1 },
    ]);
    expect(coalesceRuns(runs, 1)).toEqual([{ start: 0, length: 1001 }]);
  });
  it('never reads a large gap only because every gap is the same size', () => {
    // 41 one-block changes spread evenly over a disk: within the run limit, each is read alone.
    const even = Array.from({ length: 41 }, (_, i) => ({ start: i * 100, length: 1 }));
    expect(coalesceRuns(even, 64)).toEqual(even);
    // Over the limit, only as many gaps as needed are crossed, the earliest first.
    const capped = coalesceRuns(even, 40);
    expect(capped).toHaveLength(40);
    expect(capped[0]).toEqual({ start: 0, length: 101 });
    expect(capped.slice(1)).toEqual(even.slice(2));
  });
  it('always crosses a gap cheaper than a reader', () => {
    expect(coalesceRuns(runs, 4, 2)).toEqual([
      { start: 0, length: 15 },
      { start: 100, length: 5 },
      { start: 1000, length: 1 },
    ]);
  });
});

describe('blocksKnownZero', () => {
  it('counts only blocks entirely inside zero ranges, even when split across ranges', () => {
    const zeros = [
      { start: 0, length: 6 * KiB },
      { start: 6 * KiB, length: 2 * KiB },
      { start: 13 * KiB, length: 3 * KiB },
    ];
    // blocks of 4 KiB over 15 KiB: [0,4) [4,8) [8,12) [12,15)
    expect([...blocksKnownZero(zeros, 15 * KiB, 4 * KiB)].sort()).toEqual([0, 1]);
    expect([...blocksKnownZero([{ start: 12 * KiB, length: 4 * KiB }], 15 * KiB, 4 * KiB)]).toEqual([3]);
  });
});
