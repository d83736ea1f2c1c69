/**
 * The scheduled verification job for committed points: recompute every file's sha256 and size
 * against the manifest (and, with `deep`, each disk's content digest from its whole chain),
 * then record verified or failed in the manifest, atomically. A cycle never runs this: it
 * verifies only what it shipped, because hashing whole images costs seconds per GiB.
 */
import { join } from 'node:path';
import { digestImage } from './content-digest.ts';
import { ReplicationError } from './errors.ts';
import { sha256File } from './fsutil.ts';
import { type Manifest, pointFiles } from './manifest.ts';
import type { ReplicaStore } from './store.ts';

export interface VerifyResult {
  manifest: Manifest;
  problems: string[];
}

export async function verifyPoint(
  store: ReplicaStore,
  vm: string,
  pointId: string,
  opts: { deep?: boolean } = {},
): Promise<VerifyResult> {
  const m = await store.getPoint(vm, pointId);
  if (m === null) {
    throw new ReplicationError({
      code: 'POINT_NOT_FOUND',
      message: `no committed point ${pointId} for ${vm}`,
      context: { vm, pointId, root: store.root },
      hint: 'list points with `lifeboat points`',
    });
  }
  const dir = store.pointDir(vm, pointId);
  const problems: string[] = [];
  for (const f of pointFiles(m)) {
    try {
      const actual = await sha256File(join(dir, f.path));
      if (actual.size !== f.size) problems.push(`${f.path}: size ${actual.size}, manifest says ${f.size}`);
      else if (actual.sha256 !== f.sha256)
        problems.push(`${f.path}: sha256 ${actual.sha256}, manifest says ${f.sha256}`);
    } catch (e) {
      problems.push(`${f.path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  if (opts.deep && problems.length === 0) {
    for (const d of m.disks) {
      try {
        const { digest } = await digestImage(join(dir, d.image), { blockSize: d.contentDigest.blockSize });
        if (digest.root !== d.contentDigest.root) {
          problems.push(`${d.target}: content digest ${digest.root}, manifest says ${d.contentDigest.root}`);
        }
      } catch (e) {
        problems.push(`${d.target}: chain unreadable: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  const at = new Date().toISOString();
  const manifest = await store.setIntegrity(
    vm,
    pointId,
    problems.length === 0
      ? { state: 'verified', at, detail: opts.deep ? 'files and content digests match' : 'files match' }
      : { state: 'failed', at, detail: problems.join('; ') },
  );
  return { manifest, problems };
}
