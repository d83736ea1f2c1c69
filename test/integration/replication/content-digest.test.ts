/**
 * The content digest read straight from a chain's files must equal the digest of the guest
 * view as QEMU itself produces it (the chain converted to a raw file, hashed here block by
 * block with plain reads), and so must the NBD path used where direct reads are impossible.
 */
import { randomBytes } from 'node:crypto';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockCount, blockLength, digestBlock, merkleRoot } from '../../../replication/block-digests.ts';
import { createImage, createOverlay, guestMap, layerExtents } from '../../../replication/chain.ts';
import { digestImage, updateImageDigest } from '../../../replication/content-digest.ts';
import { runProcess } from '../../../replication/exec.ts';
import { MiB, makeSourceChain, qemuIo, type SourceChain, tempDir } from './helpers.ts';

let work: string;
let src: SourceChain;
/** A chain of random bytes (patterns would hide reads from the wrong offset). */
let noisy: string;

/** The root of `image`'s guest view as `qemu-img convert -O raw` writes it. */
async function rawRoot(image: string, blockSize: number): Promise<string> {
  const raw = join(work, `${Math.random().toString(36).slice(2)}.raw`);
  const r = await runProcess('qemu-img', ['convert', '-O', 'raw', image, raw]);
  expect(r.exitCode, r.stderr).toBe(0);
  const fh = await open(raw, 'r');
  try {
    const { size } = await fh.stat();
    const blocks: Buffer[] = [];
    for (let i = 0; i < blockCount(size, blockSize); i++) {
      const buf = Buffer.alloc(blockLength(i, size, blockSize));
      await fh.read(buf, 0, buf.length, i * blockSize);
      blocks.push(digestBlock(buf));
    }
    return merkleRoot(blocks, size, blockSize).root;
  } finally {
    await fh.close();
    await rm(raw, { force: true });
  }
}

beforeAll(async () => {
  work = await tempDir('content-digest');
  src = await makeSourceChain(join(work, 'chain'));
  const noise = join(work, 'noise.bin');
  await writeFile(noise, randomBytes(12 * MiB));
  const base = join(work, 'noisy-base.qcow2');
  await createImage(base, 40 * MiB);
  await qemuIo(base, [`write -s ${noise} 1536k 12M`, `write -s ${noise} 20M 9M`]);
  noisy = join(work, 'noisy-top.qcow2');
  await createOverlay(noisy, base);
  await qemuIo(noisy, [`write -s ${noise} 3M 1M`, `write -s ${noise} 24640k 3M`, 'write -z 26M 512k']);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('content digest', () => {
  it('reads a plain qcow2 chain from its files and agrees with the raw guest view', async () => {
    for (const image of [src.inc, noisy]) {
      const map = await guestMap(image);
      expect(map.direct).toBe(true);
      expect(map.files).toHaveLength(2);
      for (const blockSize of [MiB, 64 * 1024]) {
        const d = await digestImage(image, { blockSize });
        expect(d.digest.root).toBe(await rawRoot(image, blockSize));
      }
    }
  });

  it('falls back to NBD for compressed clusters and still agrees', async () => {
    const packed = join(work, 'packed.qcow2');
    await createImage(packed, 16 * MiB);
    await qemuIo(packed, ['write -c -P 0x61 0 1M', 'write -P 0x62 3M 1M', 'write -z 5M 1M']);
    const top = join(work, 'packed-top.qcow2');
    await createOverlay(top, packed);
    await qemuIo(top, ['write -P 0x63 512k 1M']);
    expect((await guestMap(top)).direct).toBe(false);
    expect((await digestImage(top)).digest.root).toBe(await rawRoot(top, MiB));
  });

  it('reads a raw base under a qcow2 layer', async () => {
    const raw = join(work, 'base.raw');
    expect((await runProcess('qemu-img', ['convert', '-O', 'raw', src.full, raw])).exitCode).toBe(0);
    const top = join(work, 'raw-top.qcow2');
    await createOverlay(top, raw, 'raw');
    await qemuIo(top, ['write -P 0x71 7M 2M']);
    expect((await guestMap(top)).direct).toBe(true);
    expect((await digestImage(top)).digest.root).toBe(await rawRoot(top, MiB));
  });

  it('updates a parent digest from the blocks a layer touches only', async () => {
    const parent = await digestImage(src.full);
    const next = await updateImageDigest(
      src.inc,
      { ...parent.digest, blocks: parent.blocks },
      await layerExtents(src.inc),
    );
    expect(next.mode).toBe('incremental');
    expect(next.bytesRead).toBeLessThan(parent.bytesRead);
    expect(next.digest.root).toBe(await rawRoot(src.inc, MiB));
  });
});
