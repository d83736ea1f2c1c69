import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createProtectionActivities } from '../../../activities/protection.ts';
import { cancelOperation, commitFailover, runbookState } from '../../../cli/runbook-client.ts';
import { controllerWorkflowId } from '../../../platform/names.ts';
import {
  describeProtection,
  protectionScheduleId,
  protectRunbook,
  SCRUB_EVERY_MS,
  setProtectionPaused,
  startReverseProtection,
  stopReverseProtection,
  triggerProtection,
  unprotectRunbook,
} from '../../../platform/protection.ts';
import { judgeProtection, renderProtection } from '../../../platform/protection-status.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import type { ProtectionRunResult } from '../../../workflows/protection.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_SECRET, diamondPlan, isolate, rehash, withoutSteps } from '../../support/plans.ts';
import { eventually, temporalAddress, withHarness } from '../controller/harness.ts';
import { makeHooksDir } from '../controller/hooks-fixture.ts';

function every(plan: Plan, replicationMs: number, drillMs?: number): Plan {
  const p = structuredClone(plan);
  p.replication.everyMs = replicationMs;
  if (p.drill) {
    if (drillMs === undefined) delete p.drill.everyMs;
    else p.drill.everyMs = drillMs;
  }
  return rehash(p);
}

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };

describe('protection schedules', () => {
  it('fire on their interval, ask the controller for cycles, update in place, pause, trigger and go away', async () => {
    // No site workers: a cycle then waits for its secondary (schedule-to-start, 30 s) and stays in
    // flight long enough to see the Schedule skip (a worker without replication refuses at once).
    await withHarness(diamondPlan(), { siteWorkers: false }, async (h) => {
      const runbook = h.plan.runbook.name;
      const first = await protectRunbook(h.client, every(h.plan, 2_000, 3_600_000), {
        taskQueue: h.taskQueue,
      });
      expect(first.schedules.map((s) => [s.kind, s.action, s.everyMs])).toEqual([
        ['replication', 'created', 2_000],
        ['drill', 'created', 3_600_000],
        ['scrub', 'created', SCRUB_EVERY_MS],
      ]);
      const handle = h.client.schedule.getHandle(protectionScheduleId(runbook, 'replication'));

      // The Schedule's first action asks the controller for cycle 1 and waits for it. No site
      // worker takes its first activity, so the cycle stays in flight: the interval
      // passes several times, yet no second cycle is stacked (overlap: skip, one buffered).
      const cycle1 = `runbook/${runbook}/replication/1`;
      const firstRun = await eventually(
        async () => (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId,
        30_000,
        'the first scheduled action',
      );
      await eventually(async () =>
        (await runbookState(h.client, runbook)).inFlight[0]?.id === cycle1 ? true : undefined,
      );
      await eventually(
        async () => {
          const d = await h.client.workflow.getHandle(firstRun).describe();
          // Two intervals have passed since the first action while the cycle ran.
          return Date.now() - d.startTime.getTime() > 5_000 ? true : undefined;
        },
        30_000,
        'two intervals',
      );
      expect((await handle.describe()).info.recentActions).toHaveLength(1);
      expect((await runbookState(h.client, runbook)).counters.replication).toBe(1);

      // Once the cycle ends (cancelled here), the one buffered action runs and asks for cycle 2.
      await cancelOperation(h.client, { runbook, operationId: cycle1, reason: 'test: end the cycle' });
      const result = (await h.client.workflow.getHandle(firstRun).result()) as ProtectionRunResult;
      expect(result).toMatchObject({ admitted: true, id: cycle1, outcome: 'cancelled' });
      await saveHistory(h.client, firstRun, 'protectionRunWorkflow', 'replication-cancelled');
      const state = await eventually(async () => {
        const s = await runbookState(h.client, runbook);
        return s.counters.replication === 2 ? s : undefined;
      });
      expect(state.recent.map((r) => [r.id, r.outcome])).toContainEqual([cycle1, 'cancelled']);
      expect((await handle.describe()).info.recentActions).toHaveLength(2);
      await cancelOperation(h.client, {
        runbook,
        operationId: `runbook/${runbook}/replication/2`,
        reason: 'test: end the cycle',
      });

      // Protecting again with a new interval updates the same Schedules; no drill: its Schedule goes.
      const again = await protectRunbook(h.client, every(h.plan, 3_600_000), { taskQueue: h.taskQueue });
      expect(again.schedules.map((s) => [s.kind, s.action])).toEqual([
        ['replication', 'updated'],
        ['scrub', 'updated'],
      ]);
      expect(again.removed).toEqual([protectionScheduleId(runbook, 'drill')]);
      const view = await describeProtection(h.client, runbook);
      expect(view).toMatchObject({ protected: true, paused: false, replication: { everyMs: 3_600_000 } });
      expect(view.drill).toBeUndefined();

      // `replicate` on a protected runbook: the Schedule's action runs now.
      const before = (await handle.describe()).info.recentActions.length;
      expect(await triggerProtection(h.client, runbook, 'replication')).toBe(true);
      await eventually(
        async () => ((await handle.describe()).info.recentActions.length > before ? true : undefined),
        30_000,
        'the triggered action',
      );

      // A failover pauses protection and resumes it; both are idempotent.
      expect(await setProtectionPaused(h.client, runbook, true, 'failover runbook/x/failover/1')).toEqual([
        protectionScheduleId(runbook, 'replication'),
      ]);
      expect(await setProtectionPaused(h.client, runbook, true, 'again')).toEqual([]);
      expect(await describeProtection(h.client, runbook)).toMatchObject({
        paused: true,
        note: 'failover runbook/x/failover/1',
      });
      await setProtectionPaused(h.client, runbook, false, 'failover committed');
      expect((await describeProtection(h.client, runbook)).paused).toBe(false);

      // A failback resumes only what a failover paused: a pause an operator made by hand stays.
      const failovers = `runbook/${runbook}/failover/`;
      await setProtectionPaused(
        h.client,
        runbook,
        true,
        `paused by ${failovers}3: a failover owns the runbook`,
      );
      expect(
        await setProtectionPaused(h.client, runbook, false, 'failed back', { onlyIfPausedBy: failovers }),
      ).toEqual([protectionScheduleId(runbook, 'replication')]);
      await handle.pause('operator: storage maintenance until Monday');
      expect(await setProtectionPaused(h.client, runbook, true, `paused by ${failovers}4: ...`)).toEqual([]);
      expect(
        await setProtectionPaused(h.client, runbook, false, 'failed back', { onlyIfPausedBy: failovers }),
      ).toEqual([]);
      // A rollback lifts only its own failover's pause, not another's (failover/4 vs failover/40).
      expect(
        await setProtectionPaused(h.client, runbook, false, 'rolled back', {
          onlyIfPausedBy: `${failovers}4`,
        }),
      ).toEqual([]);
      const kept = await describeProtection(h.client, runbook);
      expect(kept).toMatchObject({ paused: true, note: 'operator: storage maintenance until Monday' });
      expect(renderProtection([{ runbook, view: kept, drillOverdue: false }], Date.now())).toContain(
        'PAUSED (operator: storage maintenance until Monday)',
      );
      await handle.unpause('operator: done');

      // After a reprotect: the reverse Schedule, on the replication interval, until failback.
      const hourly = every(h.plan, 3_600_000);
      const reverse = protectionScheduleId(runbook, 'reverse');
      expect(
        await startReverseProtection(h.client, hourly, { taskQueue: h.taskQueue, note: 'after reprotect/1' }),
      ).toEqual({ id: reverse, action: 'created' });
      expect(
        await startReverseProtection(h.client, hourly, { taskQueue: h.taskQueue, note: 'after reprotect/2' }),
      ).toEqual({ id: reverse, action: 'kept' });
      const withReverse = await describeProtection(h.client, runbook);
      expect(withReverse.reverse).toMatchObject({ everyMs: 3_600_000 });
      expect(renderProtection([{ runbook, view: withReverse, drillOverdue: false }], Date.now())).toMatch(
        /reverse cycles \(active secondary toward the old primary, until failback\): every 60m/,
      );
      const args = (await h.client.schedule.getHandle(reverse).describe()).action as { args?: unknown[] };
      expect(args.args?.[0]).toMatchObject({ runbook, kind: 'reverse' });
      // Its action asks the controller for a reprotect: refused here (the runbook is not failed over),
      // and the refusal is the run's result.
      const reverseHandle = h.client.schedule.getHandle(reverse);
      await reverseHandle.trigger();
      const reverseRun = await eventually(
        async () => (await reverseHandle.describe()).info.recentActions[0]?.action.workflow.workflowId,
        30_000,
        'the triggered reverse action',
      );
      const refused = (await h.client.workflow.getHandle(reverseRun).result()) as ProtectionRunResult;
      expect(refused).toMatchObject({ admitted: false, code: 'STATE' });
      expect((refused as { message: string }).message).toContain('a reprotect cannot start');
      expect(await stopReverseProtection(h.client, runbook)).toBe(true);
      expect(await stopReverseProtection(h.client, runbook)).toBe(false);
      expect(
        await startReverseProtection(
          h.client,
          rehash({ ...hourly, runbook: { ...hourly.runbook, name: 'nobody' } }),
          {
            note: 'x',
          },
        ),
      ).toEqual({ why: 'nobody is not protected (no protect/nobody/replication Schedule)' });

      expect(await unprotectRunbook(h.client, runbook)).toEqual([
        protectionScheduleId(runbook, 'replication'),
        protectionScheduleId(runbook, 'scrub'),
      ]);
      expect(await unprotectRunbook(h.client, runbook)).toEqual([]);
      expect((await describeProtection(h.client, runbook)).protected).toBe(false);
      expect(await triggerProtection(h.client, runbook, 'replication')).toBe(false);
    });
  });

  it('the drill Schedule starts a drill on its interval; status says overdue while none has ended', async () => {
    await withHarness(diamondPlan(), {}, async (h) => {
      const runbook = h.plan.runbook.name;
      // Cycles hourly (none fires here), a drill every 3 s.
      await protectRunbook(h.client, every(h.plan, 3_600_000, 3_000), { taskQueue: h.taskQueue });
      const drill1 = `runbook/${runbook}/drill/1`;
      const state = await eventually(
        async () => {
          const s = await runbookState(h.client, runbook).catch(() => undefined);
          return s?.inFlight.some((o) => o.id === drill1) ? s : undefined;
        },
        30_000,
        'the scheduled drill',
      );
      expect(state.counters.drill).toBe(1);
      expect(state.counters.replication).toBeUndefined();
      const drillRuns = h.client.schedule.getHandle(protectionScheduleId(runbook, 'drill'));
      const run = (await drillRuns.describe()).info.recentActions[0]?.action.workflow.workflowId;
      expect(run).toMatch(new RegExp(`^protect/${runbook}/drill/run`));

      // Protected for longer than drill.every and no drill has ended: overdue.
      const view = await describeProtection(h.client, runbook);
      expect(view.since).toBeDefined();
      // (Intervals align to the clock: the first drill may fire before 3 s have passed.)
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(view.since!) + 3_500 - Date.now())));
      const judged = judgeProtection({ runbook, view, rpoObjectiveMs: h.plan.objectives.rpoMs }, Date.now());
      expect(judged.drillOverdue).toBe(true);
      expect(renderProtection([judged], Date.now())).toMatch(/no drill yet.*DRILL OVERDUE/);

      // A drill that takes longer than drill.every is not stacked: still one, one buffered.
      await new Promise((r) => setTimeout(r, 7_000));
      expect((await runbookState(h.client, runbook)).counters.drill).toBe(1);
      // Unprotected first: the buffered action goes with its Schedule and asks for no second drill.
      await unprotectRunbook(h.client, runbook);
      await cancelOperation(h.client, {
        runbook,
        operationId: drill1,
        reason: 'test: end the drill',
        key: alice,
      });
      expect(await h.client.workflow.getHandle(run as string).result()).toMatchObject({
        admitted: true,
        id: drill1,
      });
    });
  });

  it('a request the controller cannot answer gives up when cancelled, or a little before its timeout', async () => {
    // The controller's task queue has no worker, so the Update is never answered: as when the
    // worker that runs the controller is the one shutting down (a SIGTERM during a Schedule's run).
    // The client is a worker's (a native connection, which ignores abort signals).
    const connection = await NativeConnection.connect({ address: temporalAddress() });
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    const plan = isolate(diamondPlan(), randomUUID().slice(0, 8));
    const request = { plan, kind: 'drill' as const, taskQueue: `nobody-${plan.runbook.name}` };
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => new Error('answered'),
        (e: unknown) => e as Error,
      );
    try {
      // Cancelled (the worker shuts down): it ends at once, not when the server's timeout passes.
      const shutdown = new MockActivityEnvironment({}, { client });
      const cancelled = settle(shutdown.run(createProtectionActivities().requestOperation, request));
      await new Promise((r) => setTimeout(r, 1_500));
      shutdown.cancel('WORKER_SHUTDOWN');
      const t0 = Date.now();
      expect((await cancelled).name).toBe('CancelledFailure');
      expect(Date.now() - t0).toBeLessThan(5_000);

      // Never answered: it gives up after its patience, and says so.
      const activities = createProtectionActivities({ requestPatienceMs: 2_000 });
      const waited = await settle(
        new MockActivityEnvironment({}, { client }).run(activities.requestOperation, request),
      );
      expect(waited.message).toBe(
        `the controller of ${plan.runbook.name} did not answer the drill request within 2 s`,
      );
    } finally {
      await client.workflow
        .getHandle(controllerWorkflowId(plan.runbook.name))
        .terminate('test: a controller nobody runs')
        .catch(() => {});
      await connection.close();
    }
  });

  it('a scrub run whose secondary worker is absent reports it and ends, it does not hang', async () => {
    await withHarness(diamondPlan(), { siteWorkers: false }, async (h) => {
      const runbook = h.plan.runbook.name;
      const t0 = Date.now();
      const result = (await h.client.workflow.execute('protectionRunWorkflow', {
        workflowId: `protect/${runbook}/scrub/run-test`,
        taskQueue: h.taskQueue,
        args: [{ runbook, kind: 'scrub', plan: h.plan }],
      })) as ProtectionRunResult;
      const took = Date.now() - t0;
      // One schedule-to-start timeout (30 s), said once for the site, not once per VM.
      expect(result).toEqual({
        scrub: [
          {
            vm: expect.any(String),
            ok: false,
            error: expect.stringMatching(/^secondary site worker absent/),
          },
        ],
      });
      expect(took).toBeLessThan(90_000);
    });
  });
  it('a failover pauses them (the note names it); a rollback resumes them, a commit keeps them paused', async () => {
    const hooks = makeHooksDir();
    const plan = withoutSteps(diamondPlan(), (x) => x.kind === 'approval');
    await withHarness(plan, { hooksDir: hooks.dir }, async (h) => {
      const runbook = h.plan.runbook.name;
      await protectRunbook(h.client, every(h.plan, 3_600_000, 3_600_000), { taskQueue: h.taskQueue });
      expect((await describeProtection(h.client, runbook)).paused).toBe(false);

      const first = await h.start('failover', { mode: 'disaster' });
      await eventually(async () =>
        (await runbookState(h.client, runbook)).phase === 'failed-over-uncommitted' ? true : undefined,
      );
      const during = await describeProtection(h.client, runbook);
      expect(during.paused).toBe(true);
      expect(during.note).toContain(first.id);
      await commitFailover(h.client, {
        operationId: first.id,
        decision: 'rollback',
        reason: 'test',
        key: alice,
      });
      const r1 = (await h.client.workflow
        .getHandle(first.id)
        .result()
        .catch((e) => e)) as OperationResult;
      expect(r1).toBeDefined();
      await eventually(async () => ((await describeProtection(h.client, runbook)).paused ? undefined : true));

      const second = await h.start('failover', { mode: 'disaster' });
      await eventually(async () =>
        (await runbookState(h.client, runbook)).phase === 'failed-over-uncommitted' ? true : undefined,
      );
      await commitFailover(h.client, {
        operationId: second.id,
        decision: 'commit',
        reason: 'test',
        key: alice,
      });
      const r2 = (await h.client.workflow.getHandle(second.id).result()) as OperationResult;
      expect(r2.outcome).toBe('succeeded');
      const after = await describeProtection(h.client, runbook);
      expect(after.paused).toBe(true);
      expect(after.note).toContain(second.id);
      expect(after.note).toMatch(/resumes after failback/);
      await unprotectRunbook(h.client, runbook);
    });
  });
});
