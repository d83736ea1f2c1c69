import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { differingBlocks, digestBlock, merkleRoot } from '../../../replication/block-digests.ts';
import { backingChain, compareImages, imageInfo, rebaseUnsafe } from '../../../replication/chain.ts';
import { digestImage } from '../../../replication/content-digest.ts';
import { isReplicationError } from '../../../replication/errors.ts';
import { runProcess } from '../../../replication/exec.ts';
import { sha256File } from '../../../replication/fsutil.ts';
import { pointKind } from '../../../replication/manifest.ts';
import { ReplicaStore } from '../../../replication/store.ts';
import { verifyPoint } from '../../../replication/verify.ts';
import { commitInput, MiB, makeSourceChain, type SourceChain, stageFile, tempDir } from './helpers.ts';

let work: string;
let src: SourceChain;

beforeAll(async () => {
  work = await tempDir('store');
  src = await makeSourceChain(join(work, 'primary'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function stageAndCommitFull(store: ReplicaStore, pointId = 'p1') {
  const { dir } = await store.stage('vm1', pointId);
  await stageFile(src.full, dir, 'vda.qcow2');
  return store.commit(
    commitInput({ pointId, disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: null }] }),
  );
}

describe('replica store', () => {
  it('commits a full point then an incremental whose chain equals the primary disk byte for byte', async () => {
    const store = new ReplicaStore(join(work, 'chain'));
    const full = await stageAndCommitFull(store);
    expect(full.alreadyCommitted).toBe(false);
    expect(pointKind(full.manifest)).toBe('full');

    const { dir } = await store.stage('vm1', 'p2');
    await stageFile(src.inc, dir, 'vda.qcow2');
    const inc = await store.commit(
      commitInput({ pointId: 'p2', disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: 'p1' }] }),
    );
    const disk = inc.manifest.disks[0]!;
    expect(pointKind(inc.manifest)).toBe('incremental');
    expect(disk.chainPosition).toBe(1);
    expect(disk.backing).toBe('../p1/vda.qcow2');

    const top = store.imagePath(inc.manifest, 'vda')!;
    expect(await compareImages(top, src.inc)).toMatchObject({ identical: true });
    expect(disk.contentDigest.root).toBe((await digestImage(src.inc)).digest.root);
    // The full point's digest is the primary's state at the first checkpoint, not the later one.
    expect(full.manifest.disks[0]!.contentDigest.root).toBe((await digestImage(src.full)).digest.root);
    expect(full.manifest.disks[0]!.contentDigest.root).not.toBe(disk.contentDigest.root);

    // No file of the committed chain refers to the primary: every layer lives in the store.
    const chain = await backingChain(top);
    expect(chain).toHaveLength(2);
    for (const layer of chain) expect(layer.filename.startsWith(store.root)).toBe(true);
    expect((await imageInfo(top)).backingFilename).toBe('../p1/vda.qcow2');

    expect((await store.listPoints('vm1')).map((m) => m.pointId)).toEqual(['p1', 'p2']);
    expect((await store.newestCommitted('vm1'))?.pointId).toBe('p2');

    // A resync compares block lists: between the two points exactly the blocks the overlay
    // wrote differ (writes at 1000k-1100k, 2M-3M, 9M-10M zeroed, 40M+64k; 1 MiB blocks).
    const a = (await store.blockDigests(full.manifest, 'vda'))!;
    const b = (await store.blockDigests(inc.manifest, 'vda'))!;
    expect(differingBlocks(a, b)).toEqual([0, 1, 2, 9, 40]);
    // Only the manifest and the files it lists are left in a point directory.
    const files = (await readdir(store.pointDir('vm1', 'p2'))).sort();
    expect(files).toEqual(['manifest.json', 'vda.blocks', 'vda.qcow2']);
  });

  it('commits an incremental whose backing names a path that exists only at the primary', async () => {
    const store = new ReplicaStore(join(work, 'primary-path'));
    await stageAndCommitFull(store);
    const { dir } = await store.stage('vm1', 'p2');
    await stageFile(src.inc, dir, 'vda.qcow2');
    // libvirt writes the live primary disk as the backing file of an incremental export.
    await rebaseUnsafe(join(dir, 'vda.qcow2'), '/var/lib/libvirt/images/vm1-live.qcow2');
    const { manifest } = await store.commit(
      commitInput({ pointId: 'p2', disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: 'p1' }] }),
    );
    expect(await compareImages(store.imagePath(manifest, 'vda')!, src.inc)).toMatchObject({
      identical: true,
    });
    expect(manifest.disks[0]!.backing).toBe('../p1/vda.qcow2');
  });

  it('a moved store still opens: backing paths are relative', async () => {
    const store = new ReplicaStore(join(work, 'moving'));
    await stageAndCommitFull(store);
    const { dir } = await store.stage('vm1', 'p2');
    await stageFile(src.inc, dir, 'vda.qcow2');
    await store.commit(
      commitInput({ pointId: 'p2', disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: 'p1' }] }),
    );
    const moved = new ReplicaStore(join(work, 'moved'));
    await runProcess('mv', [store.root, moved.root]);
    const m = (await moved.getPoint('vm1', 'p2'))!;
    expect(await compareImages(moved.imagePath(m, 'vda')!, src.inc)).toMatchObject({ identical: true });
  });

  it('committing twice returns the committed point and leaves exactly one', async () => {
    const store = new ReplicaStore(join(work, 'twice'));
    const first = await stageAndCommitFull(store);
    const again = await store.commit(
      commitInput({ pointId: 'p1', disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: null }] }),
    );
    expect(again.alreadyCommitted).toBe(true);
    expect(again.manifest).toEqual(first.manifest);
    expect(await store.stage('vm1', 'p1')).toMatchObject({ committed: true });
    expect(await store.listPoints('vm1')).toHaveLength(1);
    expect(await store.listStaging('vm1')).toEqual([]);
  });

  it('a crash between data and manifest never lists the partial point; a re-run commits exactly one', async () => {
    const root = join(work, 'crash');
    const before = new ReplicaStore(root);
    await stageAndCommitFull(before);
    const { dir } = await before.stage('vm1', 'p2');
    await stageFile(src.inc, dir, 'vda.qcow2');
    const shipped = await sha256File(join(dir, 'vda.qcow2'));
    // The killed worker got as far as rebasing the staged file and writing the journal.
    await writeFile(join(dir, '.commit-started'), 'x');
    await rebaseUnsafe(join(dir, 'vda.qcow2'), '../p1/vda.qcow2');

    const restarted = new ReplicaStore(root);
    expect((await restarted.listPoints('vm1')).map((m) => m.pointId)).toEqual(['p1']);
    expect((await restarted.newestCommitted('vm1'))?.pointId).toBe('p1');
    expect(await restarted.listStaging('vm1')).toEqual(['p2']);

    // The re-run passes the digest the transfer verified before the rebase: it must not be trusted.
    const { manifest } = await restarted.commit(
      commitInput({
        pointId: 'p2',
        disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: 'p1', shipped }],
      }),
    );
    expect(manifest.disks[0]!.files[0]!.sha256).not.toBe(shipped.sha256);
    expect((await verifyPoint(restarted, 'vm1', 'p2')).problems).toEqual([]);
    expect((await restarted.listPoints('vm1')).map((m) => m.pointId)).toEqual(['p1', 'p2']);
    expect(await restarted.listStaging('vm1')).toEqual([]);
  });

  it('abort removes the staging directory and nothing becomes visible', async () => {
    const store = new ReplicaStore(join(work, 'abort'));
    const { dir } = await store.stage('vm1', 'p1');
    await stageFile(src.full, dir, 'vda.qcow2');
    expect(await store.abort('vm1', 'p1')).toEqual({ removed: true });
    expect(await store.abort('vm1', 'p1')).toEqual({ removed: false });
    expect(await store.listStaging('vm1')).toEqual([]);
    expect(await store.listPoints('vm1')).toEqual([]);
    await expect(
      store.commit(
        commitInput({ pointId: 'p1', disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: null }] }),
      ),
    ).rejects.toSatisfy((e) => isReplicationError(e, 'STAGING_INCOMPLETE'));
  });

  it('refuses an incremental whose parent is not committed, and a content digest the primary disagrees with', async () => {
    const store = new ReplicaStore(join(work, 'refuse'));
    const { dir } = await store.stage('vm1', 'p2');
    await stageFile(src.inc, dir, 'vda.qcow2');
    await expect(
      store.commit(
        commitInput({ pointId: 'p2', disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: 'p1' }] }),
      ),
    ).rejects.toSatisfy((e) => isReplicationError(e, 'PARENT_NOT_COMMITTED'));

    const s2 = await store.stage('vm1', 'p1');
    await stageFile(src.full, s2.dir, 'vda.qcow2');
    await expect(
      store.commit(
        commitInput({
          pointId: 'p1',
          disks: [
            { target: 'vda', image: 'vda.qcow2', parentPointId: null, expectedContentRoot: 'f'.repeat(64) },
          ],
        }),
      ),
    ).rejects.toSatisfy((e) => isReplicationError(e, 'CONTENT_DIGEST_MISMATCH'));
    expect(await store.listPoints('vm1')).toEqual([]);
  });

  it('verification marks a point verified, and failed after one byte of a committed file flips', async () => {
    const store = new ReplicaStore(join(work, 'verify'));
    await stageAndCommitFull(store);
    const ok = await verifyPoint(store, 'vm1', 'p1', { deep: true });
    expect(ok.problems).toEqual([]);
    expect(ok.manifest.integrity.state).toBe('verified');

    const file = join(store.pointDir('vm1', 'p1'), 'vda.qcow2');
    const fh = await open(file, 'r+');
    const one = Buffer.alloc(1);
    const at = 2 * 1024 * 1024 + 4096;
    await fh.read(one, 0, 1, at);
    one[0] = one[0]! ^ 0xff;
    await fh.write(one, 0, 1, at);
    await fh.close();

    const bad = await verifyPoint(store, 'vm1', 'p1');
    expect(bad.manifest.integrity.state).toBe('failed');
    expect(bad.problems.join()).toMatch(/vda\.qcow2: sha256/);
    // The verdict is in the manifest on disk, not only in the answer.
    const reread = JSON.parse(await readFile(join(store.pointDir('vm1', 'p1'), 'manifest.json'), 'utf8'));
    expect(reread.integrity.state).toBe('failed');
  });

  it('the content digest does not depend on the file layout', async () => {
    const flat = join(work, 'flat.qcow2');
    const raw = join(work, 'flat.raw');
    await runProcess('qemu-img', ['convert', '-O', 'qcow2', '-c', src.inc, flat]);
    await runProcess('qemu-img', ['convert', '-O', 'raw', src.inc, raw]);
    const chainRoot = (await digestImage(src.inc)).digest.root;
    expect((await digestImage(flat)).digest.root).toBe(chainRoot);
    expect((await digestImage(raw)).digest.root).toBe(chainRoot);
    // Independently of qemu-img map and nbdcopy: hash every block of the raw guest view.
    const bytes = await readFile(raw);
    const blocks: Buffer[] = [];
    for (let off = 0; off < bytes.length; off += MiB)
      blocks.push(digestBlock(bytes.subarray(off, off + MiB)));
    expect(merkleRoot(blocks, bytes.length, MiB).root).toBe(chainRoot);
  });
});
