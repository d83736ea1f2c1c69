import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { operationProgress } from '../../../cli/runbook-client.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { diamondPlan, syntheticPlan, withoutSteps } from '../../support/plans.ts';
import type { RecordedCall } from '../../support/recording-driver.ts';
import { aliceApproves, eventually, withHarness } from './harness.ts';
import { makeHooksDir, makeSiteHooksDirs } from './hooks-fixture.ts';

function call(calls: readonly RecordedCall[], method: string, vm: string): RecordedCall {
  const c = calls.find((x) => x.method === method && x.vm === vm && x.ok);
  if (!c)
    throw new Error(`no ${method} of ${vm} in ${JSON.stringify(calls.map((x) => `${x.method}:${x.vm}`))}`);
  return c;
}

describe('interpreter: waves on the diamond', () => {
  it('runs waves in order, groups of a wave in parallel, hooks on their site, and cleans up a drill', async () => {
    const hooks = makeSiteHooksDirs();
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    await withHarness(plan, { hooksDir: hooks.dirs, driver: () => ({ delayMs: 400 }) }, async (h) => {
      const op = await h.start('drill');
      expect(op.id).toBe(`runbook/${h.plan.runbook.name}/drill/1`);
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      const calls = h.secondary.calls;
      const a = call(calls, 'startVm', 'a-1');
      const b = call(calls, 'startVm', 'b-1');
      const c = call(calls, 'startVm', 'c-1');
      const d = call(calls, 'startVm', 'd-1');
      // Wave order: a before b and c; d after both.
      expect(a.end).toBeLessThanOrEqual(b.start);
      expect(a.end).toBeLessThanOrEqual(c.start);
      expect(Math.max(b.end, c.end)).toBeLessThanOrEqual(d.start);
      // b and c are one wave: their boots overlap in time.
      expect(b.start).toBeLessThan(c.end);
      expect(c.start).toBeLessThan(b.end);
      // The production site is never touched by a drill.
      expect(h.primary.calls.filter((x) => x.method !== 'inspectVm')).toEqual([]);
      // A drill tears down what it started, in reverse: d's VM stops first, a's last.
      const stops = calls.filter((x) => x.method === 'shutdownVm').map((x) => x.vm);
      expect(stops[0]).toBe('d-1');
      expect(stops.at(-1)).toBe('a-1');
      expect(stops.sort()).toEqual(['a-1', 'b-1', 'c-1', 'd-1']);
      for (const vm of ['a-1', 'b-1', 'c-1', 'd-1']) expect(h.secondary.vmState(vm)).toBe('shut off');
      // The c group's hook is a failover/failback/drill step on the secondary: it ran there, with its args.
      expect(readFileSync(hooks.logFile, 'utf8')).toBe('secondary: c up\n');
      // The progress query tells where each wave, group and VM stood, with timings.
      const progress = await operationProgress(h.client, op.id);
      expect(progress).toMatchObject({ state: 'succeeded', waves: 3, wave: 2 });
      expect(progress.endedAt).toBeGreaterThanOrEqual(progress.startedAt);
      for (const [g, wave] of [
        ['a', 0],
        ['b', 1],
        ['c', 1],
        ['d', 2],
      ] as const) {
        const gp = progress.groups[g]!;
        expect(gp).toMatchObject({ wave, state: 'succeeded' });
        expect(gp.endedAt).toBeGreaterThanOrEqual(gp.startedAt!);
        expect(gp.vms[`${g}-1`]).toMatchObject({ state: 'done', action: 'startVm' });
      }
      expect(progress.groups.a!.endedAt).toBeLessThanOrEqual(progress.groups.b!.startedAt!);
      expect(Math.max(progress.groups.b!.endedAt!, progress.groups.c!.endedAt!)).toBeLessThanOrEqual(
        progress.groups.d!.startedAt!,
      );
      await saveHistory(h.client, op.id, 'operationWorkflow', 'diamond-drill');
    });
  });

  it('holds wave 1 at the approval gate until the right operator approves', async () => {
    const hooks = makeHooksDir();
    await withHarness(diamondPlan(), { hooksDir: hooks.dir }, async (h) => {
      const op = await h.start('drill');
      const gate = await eventually(async () => {
        const p = await operationProgress(h.client, op.id);
        return p.gates.find((g) => g.stepId === 'b/before/0');
      });
      expect(gate.approvers).toEqual(['alice']);
      expect(h.secondary.calls.some((x) => x.method === 'startVm' && x.vm === 'b-1')).toBe(false);
      const record = await aliceApproves(h, 'bubble network is isolated');
      expect(record).toMatchObject({ operator: 'alice', role: 'incident-commander', decision: 'approve' });
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      expect(result.decisions.map((d) => [d.stepId, d.operator, d.reason])).toEqual([
        ['b/before/0', 'alice', 'bubble network is isolated'],
      ]);
      const approvedAt = Date.parse(record.recordedAt);
      expect(call(h.secondary.calls, 'startVm', 'b-1').start).toBeGreaterThanOrEqual(approvedAt - 1000);
      await saveHistory(h.client, op.id, 'operationWorkflow', 'diamond-drill-approved');
      await saveHistory(
        h.client,
        `runbook/${h.plan.runbook.name}`,
        'runbookController',
        'one-drill',
        {},
      ).catch(() => undefined);
    });
  });

  it.each([
    ['inline', 'never'],
    ['as child workflows', 'always'],
  ] as const)('caps concurrent boots per site (groups %s)', async (_label, childGroups) => {
    // Two groups of 4 VMs in one wave, a limit of 2 boots: never more than 2 at once, and 2 do overlap.
    const plan = syntheticPlan(diamondPlan(), { groups: 2, vmsPerGroup: 4, waves: 1 });
    await withHarness(plan, { driver: () => ({ delayMs: { startVm: 400 } }) }, async (h) => {
      const op = await h.start('drill', { bootConcurrency: 2, childGroups });
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      const boots = h.secondary.calls.filter((c) => c.method === 'startVm' && c.ok);
      expect(boots).toHaveLength(8);
      const overlapAt = (t: number) => boots.filter((b) => b.start <= t && t < b.end).length;
      const peak = Math.max(...boots.map((b) => overlapAt(b.start)));
      expect(peak).toBe(2);
    });
  });
});
