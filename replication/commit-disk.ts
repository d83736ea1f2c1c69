/**
 * One disk of a commit at the secondary: point the staged layer at its parent by a relative
 * path (never a primary path), check it, digest what it adds, and describe it for the
 * manifest. Idempotent: a re-run after a crash redoes each step and gets the same result.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeBlockDigests, encodeBlockDigests } from './block-digests.ts';
import { checkImage, ensureBacking } from './chain.ts';
import { digestImage, updateImageDigest } from './content-digest.ts';
import { ReplicationError } from './errors.ts';
import { exists, fsyncFile, sha256File, writeFileAtomic } from './fsutil.ts';
import { assertSafeName, type ManifestDisk, type PointFile } from './manifest.ts';
import type { PhaseClock } from './phases.ts';
import type { CommitDiskInput, CommitInput, ReplicaStore } from './store.ts';

export async function commitDisk(
  store: ReplicaStore,
  input: CommitInput,
  d: CommitDiskInput,
  staging: string,
  resumed: boolean,
  clock: PhaseClock,
): Promise<ManifestDisk> {
  const imagePath = join(staging, assertSafeName('image', d.image));
  if (!(await exists(imagePath))) {
    throw new ReplicationError({
      code: 'STAGING_INCOMPLETE',
      message: `disk ${d.target} of point ${input.pointId}: ${d.image} is not staged`,
      context: { vm: input.vm, pointId: input.pointId, imagePath },
      hint: 'the transfer must finish before commit; run it again',
    });
  }
  let parentDisk: ManifestDisk | null = null;
  let backing: string | null = null;
  if (d.parentPointId !== null) {
    const parent = await store.getPoint(input.vm, d.parentPointId);
    parentDisk = parent?.disks.find((x) => x.target === d.target) ?? null;
    if (parentDisk === null) {
      throw new ReplicationError({
        code: 'PARENT_NOT_COMMITTED',
        message: `disk ${d.target} of point ${input.pointId} builds on ${d.parentPointId}, which holds no committed ${d.target}`,
        context: { vm: input.vm, pointId: input.pointId, parentPointId: d.parentPointId },
        hint: 'ship a full copy: the chain cannot continue',
      });
    }
    // Relative to the image's own directory, and staging sits beside the point directories.
    backing = `../${d.parentPointId}/${parentDisk.image}`;
  }
  // The staged data goes to disk while the layer is checked and digested (I/O beside CPU);
  // awaited before this disk counts as committed, so still before the point is published.
  const synced = clock.time('fsync', () => fsyncFile(imagePath));
  synced.catch(() => undefined);
  // An empty layer this site just made names its parent already and holds no cluster to check.
  const same = d.unchanged === true && parentDisk !== null;
  const rebased =
    same || d.backingChecked === true
      ? { changed: false }
      : await clock.time('rebase', () => ensureBacking(imagePath, backing));
  if (!same) await clock.time('check', () => checkImage(imagePath));
  if (rebased.changed) await clock.time('fsync', () => fsyncFile(imagePath));

  // A file that arrived without its sha256 (streamed over NBD, or rebased here) is hashed beside
  // the content digest: two reads of the page cache at once, on two cores.
  const imageDigest: Promise<PointFile> =
    d.shipped !== undefined && !rebased.changed && !resumed
      ? Promise.resolve({ path: d.image, ...d.shipped })
      : clock.time('rehash', () => sha256File(imagePath)).then((x) => ({ path: d.image, ...x }));
  imageDigest.catch(() => undefined); // awaited below; a content-digest failure comes first

  const parentBlocks = async (p: ManifestDisk, parentPointId: string) =>
    decodeBlockDigests(
      await readFile(join(store.pointDir(input.vm, parentPointId), p.contentDigest.blocksFile)),
    );
  const digest = await clock.time('contentDigest', async () =>
    parentDisk === null || d.parentPointId === null
      ? await digestImage(imagePath)
      : same
        ? {
            digest: {
              algorithm: parentDisk.contentDigest.algorithm,
              blockSize: parentDisk.contentDigest.blockSize,
              virtualSize: parentDisk.contentDigest.virtualSize,
              root: parentDisk.contentDigest.root,
            },
            blocks: await parentBlocks(parentDisk, d.parentPointId),
          }
        : await updateImageDigest(imagePath, {
            blocks: decodeBlockDigests(
              await readFile(
                join(store.pointDir(input.vm, d.parentPointId), parentDisk.contentDigest.blocksFile),
              ),
            ),
            blockSize: parentDisk.contentDigest.blockSize,
            virtualSize: parentDisk.contentDigest.virtualSize,
          }),
  );
  if (d.expectedContentRoot !== undefined && d.expectedContentRoot !== digest.digest.root) {
    throw new ReplicationError({
      code: 'CONTENT_DIGEST_MISMATCH',
      message: `disk ${d.target} of point ${input.pointId}: content digest ${digest.digest.root} differs from the primary's ${d.expectedContentRoot}`,
      context: { vm: input.vm, pointId: input.pointId, target: d.target },
      hint: 'the chain is not the primary disk at the checkpoint; abort and resync',
    });
  }
  const image = await imageDigest;
  await synced;
  const blocksName = `${d.target}.blocks`;
  const blocksPath = join(staging, blocksName);
  await writeFileAtomic(blocksPath, encodeBlockDigests(digest.blocks));
  const blocksFile: PointFile = { path: blocksName, ...(await sha256File(blocksPath)) };

  return {
    target: d.target,
    chainPosition: parentDisk === null ? 0 : parentDisk.chainPosition + 1,
    parentPointId: d.parentPointId,
    ...(d.fullReason === undefined ? {} : { fullReason: d.fullReason }),
    image: d.image,
    backing,
    files: [image, blocksFile],
    contentDigest: {
      algorithm: digest.digest.algorithm,
      blockSize: digest.digest.blockSize,
      virtualSize: digest.digest.virtualSize,
      root: digest.digest.root,
      blocksFile: blocksName,
    },
    virtualSize: digest.digest.virtualSize,
  };
}
