import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOverlay, imageInfo } from '../../../replication/chain.ts';
import { digestImage } from '../../../replication/content-digest.ts';
import { applyRetention, type RetentionStep } from '../../../replication/retention.ts';
import { scrubPoint } from '../../../replication/scrub.ts';
import { ReplicaStore } from '../../../replication/store.ts';
import { commitInput, makeSourceChain, qemuIo, type SourceChain, stageFile, tempDir } from './helpers.ts';

const P = ['20261125T090000Z-1', '20261125T091000Z-2', '20261125T092000Z-3'] as const;
let work: string;
let src: SourceChain;
let third: string;

beforeAll(async () => {
  work = await tempDir('retention');
  src = await makeSourceChain(join(work, 'primary'));
  third = join(src.dir, 'vda.inc2.qcow2');
  await createOverlay(third, src.inc);
  await qemuIo(third, ['write -P 0x55 1M 64k', 'write -P 0x66 20M 2M']);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function commitThree(store: ReplicaStore): Promise<void> {
  const images = [src.full, src.inc, third];
  for (const [i, id] of P.entries()) {
    const { dir } = await store.stage('vm1', id);
    await stageFile(images[i] as string, dir, 'vda.qcow2');
    await store.commit(
      commitInput({
        pointId: id,
        disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: i === 0 ? null : (P[i - 1] as string) }],
      }),
    );
  }
}

/** Each point's guest view as committed, by content digest. */
async function guestViews(store: ReplicaStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const m of await store.listPoints('vm1')) {
    const image = store.imagePath(m, 'vda') as string;
    out[m.pointId] = (await digestImage(image)).digest.root;
    expect(out[m.pointId]).toBe(m.disks[0]?.contentDigest.root);
  }
  return out;
}

describe('retention', () => {
  it('removes the oldest point by merging it into its child, whose guest view stays the same', async () => {
    const store = new ReplicaStore(join(work, 'oldest'));
    await commitThree(store);
    const before = await guestViews(store);

    const r = await applyRetention(store, 'vm1', 2, {});
    expect(r.remove).toEqual([P[0]]);
    expect(r.merged).toEqual([{ pointId: P[0], into: [P[1]] }]);
    expect(r.deferred).toEqual([]);
    expect((await store.listPoints('vm1')).map((m) => m.pointId)).toEqual([P[1], P[2]]);
    expect(await readdir(store.pointsDir('vm1'))).not.toContain(P[0]);

    // The child is a full point now, standing alone, and every remaining view is unchanged.
    const child = await store.getPoint('vm1', P[1]);
    expect(child?.disks[0]).toMatchObject({ parentPointId: null, backing: null, chainPosition: 0 });
    expect((await imageInfo(store.imagePath(child!, 'vda')!)).backingFilename).toBeNull();
    expect((await store.getPoint('vm1', P[2]))?.disks[0]?.chainPosition).toBe(1);
    const after = await guestViews(store);
    expect(after).toEqual({ [P[1]]: before[P[1]], [P[2]]: before[P[2]] });
    // Rewritten manifests agree with the files: the whole chain verifies.
    expect((await scrubPoint(store, 'vm1', P[2])).state).toBe('verified');
  });

  it('keeps a held point, removes an intermediate one by merging it, and says what it deferred', async () => {
    const store = new ReplicaStore(join(work, 'held'));
    await commitThree(store);
    const before = await guestViews(store);
    const held = { 'runbook/shop/drill/4': [P[0]] };

    const r = await applyRetention(store, 'vm1', 1, held);
    expect(r.deferred).toEqual([
      { pointId: P[0], heldBy: ['runbook/shop/drill/4'], why: 'held by an operation' },
    ]);
    expect(r.merged).toEqual([{ pointId: P[1], into: [P[2]] }]);
    expect((await store.listPoints('vm1')).map((m) => m.pointId)).toEqual([P[0], P[2]]);

    // The held point is untouched (same files), the top now backs onto it, views unchanged.
    const held0 = await store.getPoint('vm1', P[0]);
    expect(held0?.disks[0]?.files).toEqual((await guestPointFiles(store, P[0])) ?? []);
    const top = await store.getPoint('vm1', P[2]);
    expect(top?.disks[0]).toMatchObject({
      parentPointId: P[0],
      backing: `../${P[0]}/vda.qcow2`,
      chainPosition: 1,
    });
    expect(await guestViews(store)).toEqual({ [P[0]]: before[P[0]], [P[2]]: before[P[2]] });
    expect((await scrubPoint(store, 'vm1', P[2])).state).toBe('verified');

    // A point under a held one's chain waits too: hold the top, and nothing can go.
    const again = await applyRetention(store, 'vm1', 1, { 'runbook/shop/failover/1': [P[2]] });
    expect(again.remove).toEqual([]);
    expect(again.deferred).toEqual([
      { pointId: P[0], heldBy: ['runbook/shop/failover/1'], why: `in the chain of held point ${P[2]}` },
    ]);
  });
});

/** Runs retention-child.ts, which SIGKILLs itself when removing `victim` reaches `step`. */
function retentionKilledAt(root: string, step: RetentionStep, victim: string, keep: number) {
  return new Promise<{ signal: string | null; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'retention-child.ts'), root, step, victim, String(keep)],
      { timeout: 120_000 },
      (err, stdout) => resolve({ signal: (err as { signal?: string } | null)?.signal ?? null, stdout }),
    );
  });
}

/** Everything a removal leaves behind while it runs: merged copies, journal, moved-out points. */
async function leftovers(store: ReplicaStore): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(store.pointsDir('vm1'))) {
    if (name.startsWith('.')) out.push(name);
    else
      for (const f of await readdir(join(store.pointsDir('vm1'), name)))
        if (f.startsWith('.')) out.push(`${name}/${f}`);
  }
  return out;
}

describe('retention killed mid-way', () => {
  // Removing the intermediate point P1 (keep 1: P0 goes first, then P1 merges into P2), killed
  // at each step; before anything finishes it, every listed point still reads as committed.
  const steps: RetentionStep[] = ['merged', 'journaled', 'swapped', 'manifests', 'moved'];
  it.each(steps)(
    'at "%s" leaves every listed guest view unchanged, and the next run finishes it',
    async (step) => {
      const store = new ReplicaStore(join(work, `killed-${step}`));
      await commitThree(store);
      const before = await guestViews(store);

      const killed = await retentionKilledAt(store.root, step, P[1], 1);
      expect(killed.signal, killed.stdout).toBe('SIGKILL');
      // Interrupted: the chain's views (by content digest, against the manifests) are the same.
      const interrupted = await guestViews(store);
      for (const [id, root] of Object.entries(interrupted)) expect(root).toBe(before[id]);
      expect(Object.keys(interrupted)).toContain(P[2]);

      // The next retention (or scrub) finishes the removal forward, then goes on.
      const r = await applyRetention(store, 'vm1', 1, {});
      if (step !== 'merged') expect(r.finished).toEqual([P[1]]);
      expect((await store.listPoints('vm1')).map((m) => m.pointId)).toEqual([P[2]]);
      expect(await guestViews(store)).toEqual({ [P[2]]: before[P[2]] });
      expect(await leftovers(store)).toEqual([]);
      expect((await scrubPoint(store, 'vm1', P[2])).state).toBe('verified');
    },
  );
});

describe('retention beside another process', () => {
  it('abandons a removal whose merged copies another finisher cleared before the journal: nothing changed, the next run completes', async () => {
    const store = new ReplicaStore(join(work, 'cleared'));
    await commitThree(store);
    const before = await guestViews(store);
    const cleared = applyRetention(
      store,
      'vm1',
      2,
      {},
      {
        atStep: async (step, pointId) => {
          if (step !== 'merged' || pointId !== P[0]) return;
          // What a `lifeboat verify` elsewhere does when it finds no journal yet: clear the copies.
          for (const f of await readdir(store.pointDir('vm1', P[1])))
            if (f.startsWith('.retention-')) await rm(join(store.pointDir('vm1', P[1]), f));
        },
      },
    );
    await expect(cleared).rejects.toThrow(/abandoned: its merged copies went missing before any swap/);
    expect(await guestViews(store)).toEqual(before);
    expect(await leftovers(store)).toEqual([]);
    expect((await scrubPoint(store, 'vm1', P[2])).state).toBe('verified');

    const r = await applyRetention(store, 'vm1', 2, {});
    expect(r.merged).toEqual([{ pointId: P[0], into: [P[1]] }]);
    expect(await guestViews(store)).toEqual({ [P[1]]: before[P[1]], [P[2]]: before[P[2]] });
  });
});

/** The files a point's manifest lists, with sizes and digests as they are on disk now. */
async function guestPointFiles(store: ReplicaStore, id: string) {
  const { sha256File } = await import('../../../replication/fsutil.ts');
  const m = await store.getPoint('vm1', id);
  if (!m) return undefined;
  return Promise.all(
    (m.disks[0]?.files ?? []).map(async (f) => {
      const d = await sha256File(join(store.pointDir('vm1', id), f.path));
      return { path: f.path, sha256: d.sha256, size: d.size };
    }),
  );
}
