import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRpoMetrics } from '../../../replication/rpo-metrics.ts';
import { scrubPoint } from '../../../replication/scrub.ts';
import { ReplicaStore } from '../../../replication/store.ts';
import { choosePointSet } from '../../../restore/point-set.ts';
import { commitInput, makeSourceChain, type SourceChain, stageFile, tempDir } from './helpers.ts';

const P1 = '20261125T090000Z-1';
const P2 = '20261125T091000Z-2';
let work: string;
let src: SourceChain;

beforeAll(async () => {
  work = await tempDir('scrub');
  src = await makeSourceChain(join(work, 'primary'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function commitChain(store: ReplicaStore): Promise<void> {
  const full = await store.stage('vm1', P1);
  await stageFile(src.full, full.dir, 'vda.qcow2');
  await store.commit(
    commitInput({ pointId: P1, disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: null }] }),
  );
  const inc = await store.stage('vm1', P2);
  await stageFile(src.inc, inc.dir, 'vda.qcow2');
  await store.commit(
    commitInput({ pointId: P2, disks: [{ target: 'vda', image: 'vda.qcow2', parentPointId: P1 }] }),
  );
}

/** Flips one byte of the guest data the full point holds (guest 8M-13M is 0x11, not rewritten later). */
async function flipDataByte(file: string): Promise<void> {
  const bytes = await readFile(file);
  const at = bytes.indexOf(Buffer.alloc(4096, 0x11));
  expect(at).toBeGreaterThan(0);
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from([0x10]), 0, 1, at + 100);
  await fh.close();
}

describe('whole-chain scrub', () => {
  it('verifies a chain, then catches a flipped byte in an ancestor, naming point, disk and block', async () => {
    const store = new ReplicaStore(join(work, 'store'));
    await commitChain(store);

    const ok = await scrubPoint(store, 'vm1', P2);
    expect(ok.state).toBe('verified');
    expect(ok.chain).toEqual([
      { pointId: P1, state: 'verified' },
      { pointId: P2, state: 'verified' },
    ]);
    expect((await store.getPoint('vm1', P2))?.integrity.state).toBe('verified');

    await flipDataByte(join(store.pointDir('vm1', P1), 'vda.qcow2'));
    const bad = await scrubPoint(store, 'vm1', P2);
    expect(bad.state).toBe('failed');
    expect(bad.chain.map((c) => [c.pointId, c.state])).toEqual([
      [P1, 'failed'],
      // The top's own file is intact but its guest view reads through the damaged one.
      [P2, 'failed'],
    ]);
    const inFull = bad.findings.find((f) => f.pointId === P1);
    expect(inFull).toMatchObject({ disk: 'vda', blockSize: 1024 * 1024 });
    // The flipped byte lies in guest 8M-13M (1 MiB blocks 8..12): exactly one block differs.
    expect(inFull?.blocks).toHaveLength(1);
    expect(inFull?.blocks?.[0]).toBeGreaterThanOrEqual(8);
    expect(inFull?.blocks?.[0]).toBeLessThanOrEqual(12);
    expect(bad.findings.find((f) => f.pointId === P2)?.blocks).toEqual(inFull?.blocks);

    // Both verdicts are in the manifests on disk, with the disk and block.
    const m1 = await store.getPoint('vm1', P1);
    const m2 = await store.getPoint('vm1', P2);
    expect(m1?.integrity.state).toBe('failed');
    expect(m1?.integrity.detail).toContain(`disk vda, block ${inFull?.blocks?.[0]} of 1048576 bytes`);
    expect(m2?.integrity.state).toBe('failed');
    expect(m2?.integrity.detail).toContain(P1);

    // Neither point is ever chosen for a drill or a failover.
    const candidates = [m1, m2].map((m) => ({
      vm: 'vm1',
      pointId: m?.pointId ?? '',
      checkpointAt: m?.times.checkpointAt ?? '',
      integrity: m?.integrity.state ?? 'not-yet',
    }));
    const choice = choosePointSet(['vm1'], new Map([['vm1', candidates]]), { kind: 'latest' });
    expect(choice.ok).toBe(false);

    // The site worker's scrape: no usable point is left, so no RPO sample, and two failed points.
    const registry = new Registry();
    registerRpoMetrics(registry, store);
    const text = await registry.metrics();
    expect(text).toMatch(/^lifeboat_points_failed\{runbook="[^"]+",vm="vm1"\} 2$/m);
    expect(text).not.toMatch(/^lifeboat_rpo_seconds\{/m);
  });

  it('exports the age of the newest usable point as lifeboat_rpo_seconds', async () => {
    const store = new ReplicaStore(join(work, 'rpo'));
    await commitChain(store);
    const newest = await store.getPoint('vm1', P2);
    const registry = new Registry();
    const at = Date.parse(newest?.times.checkpointAt ?? '') + 90_000;
    registerRpoMetrics(registry, store, () => at);
    const text = await registry.metrics();
    expect(text).toMatch(
      new RegExp(`^lifeboat_rpo_seconds\\{runbook="${newest?.runbook}",vm="vm1"\\} 90$`, 'm'),
    );
    expect(text).toMatch(/^lifeboat_points_failed\{[^}]*vm="vm1"\} 0$/m);
  });
});
