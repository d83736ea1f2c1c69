/**
 * Retention: keep the runbook's `retention` newest points per VM without ever breaking a newer
 * one. A point with children is merged into each child (`qemu-img rebase` onto the point's own
 * parent, on a copy beside the child's image), the copy's guest view is checked against the
 * child's content digest before it replaces the image, and manifests are rewritten atomically;
 * only then is the point's directory removed. A journal written before the first swap lets a
 * crash anywhere be finished forward (`finishRetention`). A point an operation holds, or one under a held
 * point's chain, is not touched: its removal is deferred and reported with who holds it.
 */
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestImage } from './content-digest.ts';
import { ReplicationError } from './errors.ts';
import { runProcess } from './exec.ts';
import { exists, fsyncDir, fsyncFile, sha256File, writeFileAtomic } from './fsutil.ts';
import { type Manifest, serializeManifest } from './manifest.ts';
import type { ReplicaStore } from './store.ts';

const MANIFEST_FILE = 'manifest.json';

export interface RetentionPlan {
  remove: string[];
  deferred: Array<{ pointId: string; heldBy: string[]; why: string }>;
}

/** The point ids under `m` (its ancestors) through every disk. */
function ancestorIds(byId: ReadonlyMap<string, Manifest>, m: Manifest): Set<string> {
  const out = new Set<string>();
  const stack = [m];
  while (stack.length > 0) {
    const p = stack.pop() as Manifest;
    for (const d of p.disks) {
      const parent = d.parentPointId;
      if (parent === null || out.has(parent)) continue;
      out.add(parent);
      const pm = byId.get(parent);
      if (pm) stack.push(pm);
    }
  }
  return out;
}

/**
 * Which points to remove so that `keep` remain (the newest), and which must wait: `held` maps an
 * operation id to the point ids it holds (the controller's `heldPoints`). Pure.
 */
export function planRetention(
  points: readonly Manifest[],
  keep: number,
  held: Readonly<Record<string, readonly string[]>>,
): RetentionPlan {
  const sorted = [...points].sort((a, b) =>
    a.times.committedAt === b.times.committedAt
      ? a.pointId.localeCompare(b.pointId)
      : a.times.committedAt < b.times.committedAt
        ? -1
        : 1,
  );
  const excess = sorted.slice(0, Math.max(0, sorted.length - Math.max(1, keep)));
  const byId = new Map(sorted.map((p) => [p.pointId, p]));
  const holders = (id: string) =>
    Object.entries(held)
      .filter(([, ids]) => ids.includes(id))
      .map(([op]) => op);
  const plan: RetentionPlan = { remove: [], deferred: [] };
  for (const p of excess) {
    const direct = holders(p.pointId);
    if (direct.length > 0) {
      plan.deferred.push({ pointId: p.pointId, heldBy: direct, why: 'held by an operation' });
      continue;
    }
    const under = sorted.filter((h) => holders(h.pointId).length > 0 && ancestorIds(byId, h).has(p.pointId));
    if (under.length > 0) {
      plan.deferred.push({
        pointId: p.pointId,
        heldBy: [...new Set(under.flatMap((h) => holders(h.pointId)))],
        why: `in the chain of held point ${under.map((h) => h.pointId).join(', ')}`,
      });
      continue;
    }
    plan.remove.push(p.pointId);
  }
  return plan;
}

/** Chain positions recomputed from parents (per disk), after a point left the chain. */
function withChainPositions(points: Manifest[]): Map<string, Manifest> {
  const byId = new Map(points.map((p) => [p.pointId, structuredClone(p)]));
  const position = (id: string, target: string, depth = 0): number => {
    const d = byId.get(id)?.disks.find((x) => x.target === target);
    if (!d || d.parentPointId === null || depth > 10_000) return 0;
    return position(d.parentPointId, target, depth + 1) + 1;
  };
  for (const p of byId.values()) {
    for (const d of p.disks) d.chainPosition = position(p.pointId, d.target);
  }
  return byId;
}

async function writeManifest(store: ReplicaStore, m: Manifest): Promise<void> {
  await writeFileAtomic(join(store.pointDir(m.vm, m.pointId), MANIFEST_FILE), serializeManifest(m));
}

/**
 * What removing one point will do, written (atomically) before anything committed is touched:
 * the merged images already sit beside their children as `tmp` (rebased, their guest views
 * proven), so a crash at any later step is finished forward by `finishRetention` from here.
 */
export interface RetentionJournal {
  vm: string;
  pointId: string;
  /** `oldSha256`: the image's sha256 before the swap, as its manifest lists it. */
  swaps: Array<{ pointId: string; tmp: string; image: string; sha256: string; oldSha256?: string }>;
  manifests: Manifest[];
}

/** Steps a test may stop the removal at (to kill the process there). */
export type RetentionStep = 'merged' | 'journaled' | 'swapped-one' | 'swapped' | 'manifests' | 'moved';

export interface RetentionHooks {
  atStep?: (step: RetentionStep, pointId: string) => Promise<void> | void;
}

const JOURNAL_FILE = '.retention-journal.json';
const TMP_PREFIX = '.retention-';
const REMOVED_PREFIX = '.removed-';

function journalPath(store: ReplicaStore, vm: string): string {
  return join(store.pointsDir(vm), JOURNAL_FILE);
}

async function readJournal(store: ReplicaStore, vm: string): Promise<RetentionJournal | null> {
  try {
    return JSON.parse(await readFile(journalPath(store, vm), 'utf8')) as RetentionJournal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function applyJournal(store: ReplicaStore, j: RetentionJournal, hooks: RetentionHooks): Promise<void> {
  const { vm } = j;
  // First, where each swap stands. A merged copy gone while its image is still the old one (a
  // finisher in another process cleared it before this journal was written) means nothing was
  // swapped yet: the removal is abandoned whole, the chain as it was, and tried again later.
  const where: Array<'tmp' | 'swapped' | 'lost'> = [];
  for (const s of j.swaps) {
    const dir = store.pointDir(vm, s.pointId);
    if (await exists(join(dir, s.tmp))) {
      where.push('tmp');
      continue;
    }
    const now = (await sha256File(join(dir, s.image))).sha256;
    if (now === s.sha256) where.push('swapped');
    else if (s.oldSha256 !== undefined && now === s.oldSha256) where.push('lost');
    else
      throw new ReplicationError({
        code: 'RETENTION_JOURNAL_MISMATCH',
        message: `retention of ${j.pointId} (${vm}): ${s.pointId}/${s.image} is neither the old nor the merged image`,
        context: { vm, pointId: j.pointId, child: s.pointId },
        hint: `the journal ${journalPath(store, vm)} is kept; run \`lifeboat verify\` on the VM`,
      });
  }
  if (where.includes('lost') && !where.includes('swapped')) {
    for (const s of j.swaps) await rm(join(store.pointDir(vm, s.pointId), s.tmp), { force: true });
    await rm(journalPath(store, vm), { force: true });
    await fsyncDir(store.pointsDir(vm));
    throw new ReplicationError({
      code: 'IMAGE_REBASE_FAILED',
      message: `retention of ${j.pointId} (${vm}) abandoned: its merged copies went missing before any swap`,
      context: { vm, pointId: j.pointId },
      hint: 'nothing was changed; the next retention tries again',
      retryable: true,
    });
  }
  for (const [i, s] of j.swaps.entries()) {
    const dir = store.pointDir(vm, s.pointId);
    if (where[i] === 'tmp') {
      await rename(join(dir, s.tmp), join(dir, s.image));
      await fsyncDir(dir);
    }
    if (i === 0) await hooks.atStep?.('swapped-one', j.pointId);
  }
  await hooks.atStep?.('swapped', j.pointId);
  for (const m of j.manifests) await writeManifest(store, m);
  await hooks.atStep?.('manifests', j.pointId);
  // Out of the listing in one rename, then deleted at leisure.
  const victim = store.pointDir(vm, j.pointId);
  const gone = join(store.pointsDir(vm), `${REMOVED_PREFIX}${j.pointId}`);
  if (await exists(victim)) {
    await rm(gone, { recursive: true, force: true });
    await rename(victim, gone);
    await fsyncDir(store.pointsDir(vm));
  }
  await hooks.atStep?.('moved', j.pointId);
  await rm(gone, { recursive: true, force: true });
  await rm(journalPath(store, vm), { force: true });
  await fsyncDir(store.pointsDir(vm));
}

/**
 * Finishes a removal a crash interrupted (the journal says what it was doing), or clears what a
 * removal left before its journal was written (merged copies not yet in place). Idempotent; the
 * point ids of a removal it finished.
 */
export async function finishRetention(store: ReplicaStore, vm: string): Promise<string[]> {
  const j = await readJournal(store, vm);
  if (j) await applyJournal(store, j, {});
  let names: string[] = [];
  try {
    names = await readdir(store.pointsDir(vm));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const name of names) {
    if (name.startsWith(REMOVED_PREFIX)) {
      await rm(join(store.pointsDir(vm), name), { recursive: true, force: true });
      continue;
    }
    if (name.startsWith('.')) continue;
    const inside = await readdir(store.pointDir(vm, name)).catch(() => [] as string[]);
    for (const f of inside) {
      if (f.startsWith(TMP_PREFIX)) await rm(join(store.pointDir(vm, name), f), { force: true });
    }
  }
  return j ? [j.pointId] : [];
}

/**
 * Merges `point` into each child and removes it; the children's guest views are unchanged.
 * Order: merged copies made and proven beside the children, a journal written, then images
 * swapped, manifests rewritten, the point's directory moved out: a crash anywhere after the
 * journal is finished forward, anywhere before it leaves the chain as it was.
 */
export async function removePoint(
  store: ReplicaStore,
  vm: string,
  pointId: string,
  hooks: RetentionHooks = {},
): Promise<{ mergedInto: string[] }> {
  await finishRetention(store, vm);
  const points = await store.listPoints(vm);
  const victim = points.find((p) => p.pointId === pointId);
  if (!victim) return { mergedInto: [] }; // already removed: idempotent
  const children = points.filter((p) => p.disks.some((d) => d.parentPointId === pointId));
  const updated = new Map<string, Manifest>();
  const swaps: RetentionJournal['swaps'] = [];
  for (const child of children) {
    const next = structuredClone(child);
    for (const d of next.disks) {
      if (d.parentPointId !== pointId) continue;
      const parentDisk = victim.disks.find((x) => x.target === d.target);
      if (!parentDisk) continue;
      const childDir = store.pointDir(vm, child.pointId);
      const tmp = `${TMP_PREFIX}${d.image}`;
      const tmpPath = join(childDir, tmp);
      await rm(tmpPath, { force: true });
      const cp = await runProcess(
        'cp',
        ['--reflink=auto', '--sparse=always', join(childDir, d.image), tmpPath],
        {
          errorCode: 'IMAGE_REBASE_FAILED',
        },
      );
      if (cp.exitCode !== 0) throw mergeError(vm, pointId, child.pointId, `copy: ${cp.stderr.trim()}`);
      // Safe rebase: the clusters the removed layer provided are copied into the child's copy.
      // Point directories are siblings, so the victim's relative backing (resolved from the
      // image's own directory) is right for the child too.
      const newBacking = parentDisk.backing;
      const args =
        newBacking === null
          ? ['rebase', '-f', 'qcow2', '-b', '', tmpPath]
          : ['rebase', '-f', 'qcow2', '-b', newBacking, '-F', 'qcow2', tmpPath];
      const r = await runProcess('qemu-img', args, { errorCode: 'IMAGE_REBASE_FAILED' });
      if (r.exitCode !== 0) throw mergeError(vm, pointId, child.pointId, `rebase: ${r.stderr.trim()}`);
      const { digest } = await digestImage(tmpPath, { blockSize: d.contentDigest.blockSize });
      if (digest.root !== d.contentDigest.root) {
        await rm(tmpPath, { force: true });
        throw mergeError(
          vm,
          pointId,
          child.pointId,
          `merged ${d.target} reads ${digest.root}, the point says ${d.contentDigest.root}`,
        );
      }
      await fsyncFile(tmpPath);
      const sum = await sha256File(tmpPath);
      const oldSha256 = d.files.find((f) => f.path === d.image)?.sha256;
      d.files = d.files.map((f) =>
        f.path === d.image ? { path: f.path, sha256: sum.sha256, size: sum.size } : f,
      );
      d.parentPointId = parentDisk.parentPointId;
      d.backing = newBacking;
      swaps.push({
        pointId: child.pointId,
        tmp,
        image: d.image,
        sha256: sum.sha256,
        ...(oldSha256 ? { oldSha256 } : {}),
      });
    }
    updated.set(child.pointId, next);
  }
  await hooks.atStep?.('merged', pointId);
  const remaining = points.filter((p) => p.pointId !== pointId).map((p) => updated.get(p.pointId) ?? p);
  const positioned = withChainPositions(remaining);
  const manifests: Manifest[] = [];
  for (const p of remaining) {
    const next = positioned.get(p.pointId) as Manifest;
    if (updated.has(p.pointId) || JSON.stringify(next.disks) !== JSON.stringify(p.disks))
      manifests.push(next);
  }
  const journal: RetentionJournal = { vm, pointId, swaps, manifests };
  await writeFileAtomic(journalPath(store, vm), `${JSON.stringify(journal)}\n`);
  await hooks.atStep?.('journaled', pointId);
  await applyJournal(store, journal, hooks);
  return { mergedInto: children.map((c) => c.pointId) };
}

function mergeError(vm: string, pointId: string, child: string, why: string): ReplicationError {
  return new ReplicationError({
    code: 'IMAGE_REBASE_FAILED',
    message: `could not merge point ${pointId} of ${vm} into ${child}: ${why}`,
    context: { vm, pointId, child },
    hint: 'nothing was removed; the child point is unchanged',
  });
}

export interface RetentionResult extends RetentionPlan {
  vm: string;
  merged: Array<{ pointId: string; into: string[] }>;
  /** Removals an earlier crash left half done, finished forward first. */
  finished?: string[];
}

/** Applies the runbook's retention to one VM's points (oldest first). */
export async function applyRetention(
  store: ReplicaStore,
  vm: string,
  keep: number,
  held: Readonly<Record<string, readonly string[]>>,
  hooks: RetentionHooks = {},
): Promise<RetentionResult> {
  return store.exclusive(vm, async () => {
    const finished = await finishRetention(store, vm);
    const plan = planRetention(await store.listPoints(vm), keep, held);
    const merged: RetentionResult['merged'] = [];
    for (const id of plan.remove) {
      const r = await removePoint(store, vm, id, hooks);
      merged.push({ pointId: id, into: r.mergedInto });
    }
    return { vm, ...plan, merged, ...(finished.length > 0 ? { finished } : {}) };
  });
}
