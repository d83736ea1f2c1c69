/**
 * Replication cycles end to end on the real lab, the workload writing all along: a cycle
 * admitted by the runbook's controller, exported at the primary (checkpoint + push backup),
 * pulled over the inter-site link by the secondary's worker and committed there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointDirtyBytes } from '../../../replication/export/online.ts';
import {
  type CycleLab,
  checkpoints,
  compareImages,
  interCounters,
  referenceCopy,
  startCycleLab,
  waitNewCheckpoint,
} from './harness.ts';
import { virshPrimary, waitWorkload } from './lab-vm.ts';

const KiB = 1024;

describe('replication cycle (real lab)', () => {
  let lab: CycleLab;
  let refRoot: string;

  beforeAll(async () => {
    lab = await startCycleLab({ vmName: 'rcy-db', runbook: `rcy-${Date.now().toString(36)}` });
    refRoot = mkdtempSync(path.join(tmpdir(), 'lifeboat-rcy-ref-'));
  });
  afterAll(async () => {
    await lab?.close();
    if (refRoot) rmSync(refRoot, { recursive: true, force: true });
  });

  /** One cycle with the VM paused until its checkpoint exists: the reference is exact. */
  async function pausedCycle(tag: string, base: string | null) {
    const vm = lab.vm;
    await virshPrimary(['suspend', vm.name]);
    let resumed = false;
    try {
      const refs = await referenceCopy(vm, mkdtempSync(path.join(refRoot, `${tag}-`)));
      const dirty = base === null ? null : await checkpointDirtyBytes({ uri: primaryUri() }, vm.name, base);
      const before = await interCounters('primary');
      const known = await checkpoints(vm);
      const c = await lab.cycle();
      const cp = await waitNewCheckpoint(vm, known);
      await virshPrimary(['resume', vm.name]);
      resumed = true;
      const result = await c.result;
      const after = await interCounters('primary');
      return { refs, dirty, linkBytes: after.tx - before.tx, checkpoint: cp, result, id: c.id };
    } finally {
      if (!resumed) await virshPrimary(['resume', vm.name]).catch(() => undefined);
    }
  }

  function primaryUri(): string {
    return `qemu:///system?socket=${path.join(process.cwd(), '.lifeboat', 'lab', 'primary', 'run', 'libvirt-sock')}`;
  }

  async function expectExact(pointId: string, refs: string[]) {
    const m = await lab.store.getPoint(lab.vm.name, pointId);
    expect(m).not.toBeNull();
    for (const [i, target] of lab.vm.targets.entries()) {
      const image = lab.store.imagePath(m!, target);
      expect(image).not.toBeNull();
      const cmp = await compareImages(refs[i]!, image!);
      expect(cmp, `${target} of ${pointId}: ${cmp.detail}`).toMatchObject({ identical: true });
    }
    return m!;
  }

  it('commits a full point equal to every disk at the checkpoint, then an exact incremental whose link bytes are bounded by the dirty bytes', async () => {
    const first = await pausedCycle('c1', null);
    expect(first.result.outcome).toBe('succeeded');
    const v1 = first.result.vms[0]!;
    expect(v1).toMatchObject({ vm: lab.vm.name, outcome: 'committed', kind: 'full' });
    expect(v1.fullReason).toMatch(/first cycle/);
    const m1 = await expectExact(v1.pointId, first.refs);
    expect(m1.sourceCheckpoint).toBe(first.checkpoint);
    expect(m1.disks.map((d) => d.target)).toEqual(['vda', 'vdb', 'vdc']);
    // The workload's last record, read offline from the committed point, on both data disks.
    expect(Object.keys(m1.workload ?? {}).sort()).toEqual(['vdb', 'vdc']);

    // Let the workload write, then the second cycle must continue the chain from point 1.
    const seq = await waitWorkload(lab.vm, 0);
    await waitWorkload(lab.vm, seq + 10);
    const second = await pausedCycle('c2', m1.sourceCheckpoint);
    expect(second.result.outcome).toBe('succeeded');
    const v2 = second.result.vms[0]!;
    expect(v2).toMatchObject({ outcome: 'committed', kind: 'incremental' });
    const m2 = await expectExact(v2.pointId, second.refs);
    expect(m2.disks.every((d) => d.parentPointId === m1.pointId && d.chainPosition === 1)).toBe(true);
    expect(m2.disks.every((d) => d.backing?.startsWith(`../${m1.pointId}/`))).toBe(true);
    const seqs = (w: unknown) => Number((w as { seq: number }).seq);
    expect(seqs(m2.workload?.vdb)).toBeGreaterThan(seqs(m1.workload?.vdb));

    // (b) bytes on the inter-site link: at most 1.2x the dirty bytes plus per-file qcow2 metadata.
    const dirty = second.dirty!;
    expect(dirty).toBeGreaterThan(0);
    const metadata = lab.vm.targets.length * 512 * KiB + 128 * KiB;
    expect(second.linkBytes).toBeLessThanOrEqual(1.2 * dirty + metadata);
    console.log(
      JSON.stringify({ dirtyBytes: dirty, linkBytes: second.linkBytes, shipped: v2.bytesShipped, fullLink: first.linkBytes }),
    );

    // Only checkpoints that committed points reference remain at the primary.
    expect((await checkpoints(lab.vm)).sort()).toEqual([m1.sourceCheckpoint, m2.sourceCheckpoint].sort());
  });
});
