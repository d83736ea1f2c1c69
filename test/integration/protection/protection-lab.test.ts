/**
 * Protection on the real lab, with the test VM's workload writing all along: the replication
 * Schedule runs cycles by itself, retention keeps the runbook's points after each committed one
 * (the remaining guest views unchanged), the scrub Schedule's run verifies every chain; then a
 * cut inter-site link shows as an RPO breach in the secondary's metrics and in `status` within
 * one interval, and after the heal the RPO recovers with an incremental point, not a full copy.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runbookState } from '../../../cli/runbook-client.ts';
import { labCut, labHeal } from '../../../lab/lab.ts';
import {
  describeProtection,
  protectionScheduleId,
  protectRunbook,
  setProtectionPaused,
  unprotectRunbook,
} from '../../../platform/protection.ts';
import { judgeProtection, renderProtection } from '../../../platform/protection-status.ts';
import { digestImage } from '../../../replication/content-digest.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import type { ProtectionRunResult } from '../../../workflows/protection.ts';
import { saveHistory } from '../../support/histories.ts';
import { rehash } from '../../support/plans.ts';
import { type CycleLab, siteMetrics, startCycleLab } from '../replication-cycle/harness.ts';
import { waitWorkload } from '../replication-cycle/lab-vm.ts';

const EVERY_MS = 10_000;
const OBJECTIVE_MS = 30_000;
const KEEP = 2;

/** The value of `name{runbook,vm}` in the secondary's /metrics, or undefined. */
async function metric(name: string, runbook: string, vm: string): Promise<number | undefined> {
  const text = await siteMetrics('secondary').catch(() => '');
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && l.includes(`runbook="${runbook}"`) && l.includes(`vm="${vm}"`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(1_000);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

describe('protection on the real lab', () => {
  let lab: CycleLab;
  let plan: Plan;
  const runbook = `prot-${Date.now().toString(36)}`;

  beforeAll(async () => {
    lab = await startCycleLab({ vmName: 'prot-db', runbook });
    const p = structuredClone(lab.plan);
    p.replication.everyMs = EVERY_MS;
    p.replication.retentionPoints = KEEP;
    p.objectives.rpoMs = OBJECTIVE_MS;
    plan = rehash(p);
  });
  afterAll(async () => {
    await labHeal().catch(() => undefined);
    if (lab) await unprotectRunbook(lab.client, runbook).catch(() => undefined);
    await lab?.close();
  });

  /** Results of the Schedule's finished runs of `kind`, oldest first. */
  async function finishedRuns(kind: 'replication' | 'scrub') {
    const d = await lab.client.schedule.getHandle(protectionScheduleId(runbook, kind)).describe();
    const out: Array<{ id: string; result: ProtectionRunResult }> = [];
    for (const a of d.info.recentActions) {
      const h = lab.client.workflow.getHandle(a.action.workflow.workflowId);
      if ((await h.describe()).status.name !== 'COMPLETED') continue;
      out.push({ id: a.action.workflow.workflowId, result: (await h.result()) as ProtectionRunResult });
    }
    return out;
  }

  /** A replication run of this runbook whose `LifeboatRpo` search attribute is `rpo` (running or not). */
  async function runWithRpo(rpo: 'breach' | 'within', status = '') {
    const scheduleId = protectionScheduleId(runbook, 'replication');
    const query = `TemporalScheduledById = '${scheduleId}' AND LifeboatRpo = '${rpo}'${status ? ` AND ExecutionStatus = '${status}'` : ''}`;
    for await (const w of lab.client.workflow.list({ query })) return w.workflowId;
    return undefined;
  }
  const resultOf = async (id: string) =>
    (await lab.client.workflow.getHandle(id).result()) as ProtectionRunResult;

  it('cycles on the Schedule with retention and scrub; a cut shows the breach within one interval, the heal recovers it incrementally', async () => {
    const vm = lab.vm.name;
    await waitWorkload(lab.vm, 0);
    await protectRunbook(lab.client, plan, { scrubEveryMs: 3_600_000 });
    // The first point is a full copy: what "no full copy" after the heal is measured against.
    const full = await until('the first point', 300_000, async () => (await lab.store.listPoints(vm))[0]);

    // Cycles come by themselves; once a third point is committed, retention merges the oldest.
    const withRetention = await until('a scheduled run that removed a point', 420_000, async () =>
      (await finishedRuns('replication')).find(
        (r) =>
          'retention' in r.result && r.result.retention?.some((v) => v.ok && v.result.removed.length > 0),
      ),
    );
    const rr = withRetention.result as Extract<ProtectionRunResult, { admitted: true }>;
    expect(rr.outcome).toBe('succeeded');
    expect(rr.retention).toEqual([
      { vm, ok: true, result: { vm, removed: [expect.any(String)], deferred: [] } },
    ]);
    await saveHistory(lab.client, withRetention.id, 'protectionRunWorkflow', 'replication-retention');

    // Paused (the run going finishes first), the store holds KEEP points whose views are intact.
    await setProtectionPaused(lab.client, runbook, true, 'test: look at the store');
    await until('no protection run going', 300_000, async () => {
      const d = await lab.client.schedule.getHandle(protectionScheduleId(runbook, 'replication')).describe();
      return d.info.runningActions.length === 0 ? true : undefined;
    });
    const points = await lab.store.listPoints(vm);
    expect(points).toHaveLength(KEEP);
    for (const p of points) {
      for (const d of p.disks) {
        const image = lab.store.imagePath(p, d.target) as string;
        expect((await digestImage(image, { blockSize: d.contentDigest.blockSize })).digest.root).toBe(
          d.contentDigest.root,
        );
      }
    }
    expect(points[0]?.disks.every((d) => d.parentPointId === null)).toBe(true);

    // The scrub Schedule's run, triggered now: every chain verified at the secondary.
    const scrubs = lab.client.schedule.getHandle(protectionScheduleId(runbook, 'scrub'));
    await scrubs.trigger();
    const scrub = await until('the scrub run', 300_000, async () => (await finishedRuns('scrub'))[0]);
    expect(scrub.result).toEqual({
      scrub: [{ vm, ok: true, result: { vm, points: KEEP, failed: [] } }],
    });
    await saveHistory(lab.client, scrub.id, 'protectionRunWorkflow', 'scrub');
    expect((await lab.store.listPoints(vm)).map((p) => p.integrity.state)).toEqual(['verified', 'verified']);
    // A scrape can miss while the worker is busy digesting; the figure is read until it answers.
    expect(await until('the breach gauge', 60_000, () => metric('lifeboat_rpo_breach', runbook, vm))).toBe(0);
    const within = await until('a run listed within', 60_000, () => runWithRpo('within', 'Completed'));
    expect(await resultOf(within)).toMatchObject({ rpo: { breach: [] } });

    // Cut the link: no point can arrive. The breach shows once the newest point is older than
    // the objective, within one interval, in the secondary's metrics and in status.
    await setProtectionPaused(lab.client, runbook, false, 'test: go on');
    const newest = (await lab.store.listPoints(vm)).at(-1)!;
    await labCut();
    const cutAt = Date.now();
    let breachRun = '';
    try {
      const crossesAt = Math.max(cutAt, Date.parse(newest.times.checkpointAt) + OBJECTIVE_MS);
      await until('the breach in metrics', OBJECTIVE_MS + 3 * EVERY_MS, async () =>
        (await metric('lifeboat_rpo_breach', runbook, vm)) === 1 ? true : undefined,
      );
      const seenAt = Date.now();
      // (A point that was on its way when the link went may still have arrived: then from it.)
      const newestNow = (await lab.store.listPoints(vm)).at(-1)!;
      const crossed = Math.max(crossesAt, Date.parse(newestNow.times.checkpointAt) + OBJECTIVE_MS);
      expect(seenAt - crossed).toBeLessThanOrEqual(EVERY_MS);
      expect(await metric('lifeboat_rpo_seconds', runbook, vm)).toBeGreaterThan(OBJECTIVE_MS / 1000);
      await sleep(3_000);
      expect(await metric('lifeboat_rpo_breach_seconds', runbook, vm)).toBeGreaterThan(0);

      const state = await runbookState(lab.client, runbook);
      const view = await describeProtection(lab.client, runbook);
      const judged = judgeProtection(
        {
          runbook,
          view,
          rpoObjectiveMs: OBJECTIVE_MS,
          ...(state.protectedAt ? { protectedAt: state.protectedAt } : {}),
        },
        Date.now(),
      );
      expect(judged.rpoBreach).toBe(true);
      // The run waiting on the cut link reads the RPO again as it waits: listed in breach now.
      breachRun = await until('a run listed in breach', OBJECTIVE_MS, () => runWithRpo('breach'));
      const text = renderProtection([judged], Date.now());
      expect(text).toContain('RPO BREACH');
      console.log(JSON.stringify({ cut: { breachSeenAfterCrossingMs: seenAt - crossed }, status: text }));
    } finally {
      await labHeal();
    }

    // Healed: the next committed point is incremental on the last one, and the breach clears.
    const healedAt = Date.now();
    const after = await until('a point after the heal', 300_000, async () => {
      const p = (await lab.store.listPoints(vm)).at(-1);
      return p && p.pointId !== newest.pointId && Date.parse(p.times.committedAt) > healedAt ? p : undefined;
    });
    await until('the breach cleared', 60_000, async () =>
      (await metric('lifeboat_rpo_breach', runbook, vm)) === 0 ? true : undefined,
    );
    expect(after.disks.every((d) => d.parentPointId !== null)).toBe(true);
    // The run that waited through the cut ends once its cycle does, with the RPO at its end.
    expect(await resultOf(breachRun)).toMatchObject({ admitted: true, rpo: { vms: [{ vm }] } });
    await saveHistory(lab.client, breachRun, 'protectionRunWorkflow', 'replication-rpo-watched');
    expect(after.bytesShipped).toBeLessThan(full.bytesShipped / 4);
    console.log(
      JSON.stringify({
        heal: {
          recoveredInMs: Date.now() - healedAt,
          pointBytes: after.bytesShipped,
          fullBytes: full.bytesShipped,
        },
        skippedOverlap: (await describeProtection(lab.client, runbook)).replication?.skippedOverlap ?? 0,
      }),
    );
  }, 900_000);
});
