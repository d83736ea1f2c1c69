/**
 * Retention: keep the runbook's `retention` newest points per VM without ever breaking a newer
 * one. A point with children is merged into each child (`qemu-img rebase` onto the point's own
 * parent, on a copy beside the child's image), the copy's guest view is checked against the
 * child's content digest before it replaces the image, and manifests are rewritten atomically;
 * only then is the point's directory removed. A point an operation holds, or one under a held
 * point's chain, is not touched: its removal is deferred and reported with who holds it.
 */
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestImage } from './content-digest.ts';
import { ReplicationError } from './errors.ts';
import { runProcess } from './exec.ts';
import { sha256File, writeFileAtomic } from './fsutil.ts';
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

/** Merges `point` into each child and removes it; the children's guest views are unchanged. */
export async function removePoint(
  store: ReplicaStore,
  vm: string,
  pointId: string,
): Promise<{ mergedInto: string[] }> {
  const points = await store.listPoints(vm);
  const victim = points.find((p) => p.pointId === pointId);
  if (!victim) return { mergedInto: [] }; // already removed: idempotent
  const children = points.filter((p) => p.disks.some((d) => d.parentPointId === pointId));
  const updated = new Map<string, Manifest>();
  for (const child of children) {
    const next = structuredClone(child);
    for (const d of next.disks) {
      if (d.parentPointId !== pointId) continue;
      const parentDisk = victim.disks.find((x) => x.target === d.target);
      if (!parentDisk) continue;
      const childDir = store.pointDir(vm, child.pointId);
      const tmp = `.retention-${d.image}`;
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
      const sum = await sha256File(tmpPath);
      d.files = d.files.map((f) =>
        f.path === d.image ? { path: f.path, sha256: sum.sha256, size: sum.size } : f,
      );
      d.parentPointId = parentDisk.parentPointId;
      d.backing = newBacking;
      // The new image replaces the old one only now that its guest view is proven unchanged.
      await rename(tmpPath, join(childDir, d.image));
    }
    updated.set(child.pointId, next);
  }
  const remaining = points.filter((p) => p.pointId !== pointId).map((p) => updated.get(p.pointId) ?? p);
  const positioned = withChainPositions(remaining);
  for (const p of remaining) {
    const next = positioned.get(p.pointId) as Manifest;
    if (updated.has(p.pointId) || JSON.stringify(next.disks) !== JSON.stringify(p.disks)) {
      await writeManifest(store, next);
    }
  }
  await rm(store.pointDir(vm, pointId), { recursive: true, force: true });
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
}

/** Applies the runbook's retention to one VM's points (oldest first). */
export async function applyRetention(
  store: ReplicaStore,
  vm: string,
  keep: number,
  held: Readonly<Record<string, readonly string[]>>,
): Promise<RetentionResult> {
  const plan = planRetention(await store.listPoints(vm), keep, held);
  const merged: RetentionResult['merged'] = [];
  for (const id of plan.remove) {
    const r = await removePoint(store, vm, id);
    merged.push({ pointId: id, into: r.mergedInto });
  }
  return { vm, ...plan, merged };
}
