import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { merkleRoot, zeroBlockDigest } from '../../../replication/block-digests.ts';
import { digestImage, halveRuns } from '../../../replication/content-digest.ts';

const pexec = promisify(execFile);
const MiB = 1024 * 1024;

describe('halveRuns', () => {
  it('cuts runs into two block-aligned halves covering them exactly', () => {
    const runs = [
      { start: 0, length: 3 * MiB },
      { start: 10 * MiB, length: 4 * MiB },
    ];
    const [a, b] = halveRuns(runs, MiB);
    expect(a).toEqual([
      { start: 0, length: 3 * MiB },
      { start: 10 * MiB, length: MiB },
    ]);
    expect(b).toEqual([{ start: 11 * MiB, length: 3 * MiB }]);
    expect(halveRuns([{ start: 0, length: MiB }], MiB)).toEqual([[{ start: 0, length: MiB }], []]);
  });
});

describe('a large content digest (half hashed in a worker thread)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-digest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('equals the Merkle root of every block hashed in order', async () => {
    // 160 MiB of random data in a 256 MiB disk: past the threaded threshold, holes at the end.
    const size = 256 * MiB;
    const data = randomBytes(160 * MiB);
    const raw = path.join(dir, 'data.raw');
    writeFileSync(raw, data);
    const image = path.join(dir, 'disk.qcow2');
    await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(size)]);
    await pexec('qemu-io', ['-f', 'qcow2', '-c', `write -q -s ${raw} 0 ${data.length}`, image]);
    const blocks: Buffer[] = [];
    for (let off = 0; off < size; off += MiB) {
      blocks.push(
        off < data.length
          ? createHash('sha256')
              .update(data.subarray(off, off + MiB))
              .digest()
          : zeroBlockDigest(MiB),
      );
    }
    const d = await digestImage(image);
    expect(d.bytesRead).toBe(data.length);
    expect(d.blocks).toEqual(blocks);
    expect(d.digest).toEqual(merkleRoot(blocks, size, MiB));
  });
});
