/**
 * The whole-chain scrub behind `lifeboat verify` and the scheduled scrub: a point is only as good
 * as every point under it, so each ancestor's files are checked (oldest first), then the point's
 * own files and, deep, each disk's guest view against its content digest. When something differs
 * the guest block is found by comparing the chain's block digests with the ones committed, and the
 * verdict (`failed`, with disk and block) is written into the manifest, atomically (setIntegrity).
 * A point whose ancestor failed is failed too: its chain reads through the damaged file.
 */
import { join } from 'node:path';
import { differingBlocks } from './block-digests.ts';
import { digestImage } from './content-digest.ts';
import type { Manifest } from './manifest.ts';
import { finishRetention } from './retention.ts';
import type { ReplicaStore } from './store.ts';
import { verifyPoint } from './verify.ts';

export interface ScrubFinding {
  /** The point whose file or guest view differs (the scrubbed one or an ancestor). */
  pointId: string;
  disk?: string;
  /** Guest blocks (of `blockSize` bytes) whose content differs from the committed digests. */
  blocks?: number[];
  blockSize?: number;
  problem: string;
}

export interface ScrubResult {
  vm: string;
  pointId: string;
  state: 'verified' | 'failed';
  /** The points checked, oldest first, with what each was found. */
  chain: Array<{ pointId: string; state: 'verified' | 'failed' }>;
  findings: ScrubFinding[];
}

/** The point's ancestors, oldest first, through every disk's parent. */
async function ancestors(store: ReplicaStore, m: Manifest): Promise<Manifest[]> {
  const seen = new Map<string, Manifest>();
  const walk = async (p: Manifest): Promise<void> => {
    for (const d of p.disks) {
      const parent = d.parentPointId;
      if (parent === null || seen.has(parent)) continue;
      const pm = await store.getPoint(p.vm, parent);
      if (pm === null) continue; // reported below as a chain the point cannot read
      seen.set(parent, pm);
      await walk(pm);
    }
  };
  await walk(m);
  return [...seen.values()].sort((a, b) => (a.times.committedAt < b.times.committedAt ? -1 : 1));
}

/** Which guest blocks of `disk` differ from its committed block digests (empty: none found). */
async function locate(store: ReplicaStore, m: Manifest, target: string): Promise<number[]> {
  const d = m.disks.find((x) => x.target === target);
  const committed = await store.blockDigests(m, target).catch(() => null);
  if (!d || !committed) return [];
  try {
    const { blocks } = await digestImage(join(store.pointDir(m.vm, m.pointId), d.image), {
      blockSize: d.contentDigest.blockSize,
    });
    return differingBlocks(committed, blocks);
  } catch {
    return [];
  }
}

function describe(f: ScrubFinding): string {
  const where = f.disk
    ? ` (disk ${f.disk}${f.blocks?.length ? `, block${f.blocks.length > 1 ? 's' : ''} ${f.blocks.slice(0, 8).join(',')} of ${f.blockSize} bytes` : ''})`
    : '';
  return `${f.pointId}${where}: ${f.problem}`;
}

export async function scrubPoint(store: ReplicaStore, vm: string, pointId: string): Promise<ScrubResult> {
  const m = await store.getPoint(vm, pointId);
  if (m === null) {
    // verifyPoint raises the named POINT_NOT_FOUND error.
    await verifyPoint(store, vm, pointId);
  }
  const top = m as Manifest;
  const chain: ScrubResult['chain'] = [];
  const findings: ScrubFinding[] = [];
  const missing = top.disks.map((d) => d.parentPointId).filter((p): p is string => p !== null);
  const below = await ancestors(store, top);
  for (const p of missing) {
    if (!below.some((b) => b.pointId === p))
      findings.push({ pointId: p, problem: 'parent point is missing' });
  }
  for (const p of [...below, top]) {
    const deep = p.pointId === pointId;
    const r = await verifyPoint(store, vm, p.pointId, { deep });
    chain.push({ pointId: p.pointId, state: r.problems.length === 0 ? 'verified' : 'failed' });
    for (const problem of r.problems) {
      const target = p.disks.find(
        (d) => problem.startsWith(`${d.target}:`) || problem.startsWith(d.image),
      )?.target;
      const blocks = target ? await locate(store, p, target) : [];
      const blockSize = p.disks.find((d) => d.target === target)?.contentDigest.blockSize;
      findings.push({
        pointId: p.pointId,
        problem,
        ...(target ? { disk: target } : {}),
        ...(blocks.length > 0 ? { blocks, blockSize } : {}),
      });
    }
  }
  const state = findings.length === 0 ? 'verified' : 'failed';
  const at = new Date().toISOString();
  // The point's own verdict names the disk and block, wherever in its chain they are.
  await store.setIntegrity(vm, pointId, {
    state,
    at,
    detail:
      state === 'verified'
        ? `whole chain verified (${chain.length} point${chain.length > 1 ? 's' : ''}, files and content digest)`
        : findings.map(describe).join('; '),
  });
  for (const f of findings) {
    if (f.pointId === pointId || !chain.some((c) => c.pointId === f.pointId)) continue;
    const own = findings
      .filter((x) => x.pointId === f.pointId)
      .map(describe)
      .join('; ');
    await store.setIntegrity(vm, f.pointId, { state: 'failed', at, detail: own });
  }
  return { vm, pointId, state, chain, findings };
}

/** Every committed point of the VM, newest first; each point's verdict covers its whole chain. */
export async function scrubVm(store: ReplicaStore, vm: string): Promise<ScrubResult[]> {
  return store.exclusive(vm, async () => {
    // A retention a crash interrupted is finished first: its half-swapped chain is not damage.
    await finishRetention(store, vm);
    const points = await store.listPoints(vm);
    const out: ScrubResult[] = [];
    for (const p of [...points].reverse()) out.push(await scrubPoint(store, vm, p.pointId));
    return out;
  });
}
