import { describe, expect, it } from 'vitest';
import { commitFailover, operationProgress, runbookState } from '../../../cli/runbook-client.ts';
import { controllerWorkflowId } from '../../../platform/names.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_SECRET, diamondPlan, rehash, withoutSteps } from '../../support/plans.ts';
import { aliceApproves, eventually, refusal as refused, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };

describe('runbook controller', () => {
  it('refuses a conflicting operation with the running one id and kind, without history', async () => {
    const hooks = makeHooksDir();
    await withHarness(diamondPlan(), { hooksDir: hooks.dir }, async (h) => {
      const first = await h.start('drill');
      // Held at b's gate, the drill stays in flight.
      await eventually(async () => (await operationProgress(h.client, first.id)).gates[0]);
      const controller = h.client.workflow.getHandle(controllerWorkflowId(h.plan.runbook.name));
      const before = (await controller.fetchHistory()).events?.length ?? 0;
      const second = await refused(h.start('drill'));
      expect(second.code).toBe('CONFLICT');
      expect(second.details.conflictsWith).toMatchObject({ id: first.id, kind: 'drill' });
      expect(second.message).toContain(first.id);
      const failover = await refused(h.start('failover'));
      expect(failover.details.conflictsWith).toMatchObject({ id: first.id, kind: 'drill' });
      // A failback is refused for the runbook's state, not for the drill.
      expect((await refused(h.start('failback'))).code).toBe('STATE');
      expect((await controller.fetchHistory()).events?.length ?? 0).toBe(before);
      const state = await runbookState(h.client, h.plan.runbook.name);
      expect(state.inFlight.map((o) => o.id)).toEqual([first.id]);
      // The operation carries the search attributes `lifeboat status` lists by.
      const desc = await h.client.workflow.getHandle(first.id).describe();
      expect(desc.searchAttributes.LifeboatRunbook).toEqual([h.plan.runbook.name]);
      expect(desc.searchAttributes.LifeboatOperation).toEqual(['drill']);
      expect(desc.searchAttributes.LifeboatState).toEqual(['waiting-approval']);
      await aliceApproves(h, 'ok');
      await h.client.workflow.getHandle(first.id).result();
      // Once the drill is done, the next one is admitted with the next id.
      const next = await h.start('drill');
      expect(next.id).toBe(`runbook/${h.plan.runbook.name}/drill/2`);
    });
  });

  it('bad input fails with a non-retryable error, and operations cannot be started around the controller', async () => {
    await withHarness(diamondPlan(), {}, async (h) => {
      const controllerId = controllerWorkflowId(h.plan.runbook.name);
      await h.client.workflow.start('runbookController', {
        workflowId: controllerId,
        taskQueue: h.taskQueue,
        args: [{ runbook: h.plan.runbook.name }],
      });
      const other = rehash({ ...h.plan, runbook: { ...h.plan.runbook, name: 'someone-else' } });
      const err = await h.client.workflow
        .getHandle(controllerId)
        .executeUpdate('lifeboat.startOperation', { args: [{ kind: 'drill', plan: other }] })
        .then(
          () => undefined,
          (e: { cause?: { type?: string } }) => e,
        );
      expect(err?.cause?.type).toBe('BAD_INPUT');
      // A plan whose content no longer matches its hash is refused at admission, where the
      // operation itself would refuse it: nothing is left in flight to block the runbook.
      const tampered = { ...h.plan, objectives: { ...h.plan.objectives, rtoMs: 1 } };
      for (const kind of ['drill', 'replication'] as const) {
        const refusal = await h.client.workflow
          .getHandle(controllerId)
          .executeUpdate('lifeboat.startOperation', { args: [{ kind, plan: tampered }] })
          .then(
            () => undefined,
            (e: { cause?: { type?: string; message?: string } }) => e.cause,
          );
        expect(refusal).toMatchObject({ type: 'BAD_INPUT', message: expect.stringContaining('plan hash') });
      }
      expect((await runbookState(h.client, h.plan.runbook.name)).inFlight).toEqual([]);
      // An operation workflow started directly, with the controller's id pattern, is refused.
      const direct = await h.client.workflow.start('operationWorkflow', {
        workflowId: `${controllerId}/drill/99`,
        taskQueue: h.taskQueue,
        args: [{ id: `${controllerId}/drill/99`, kind: 'drill', plan: h.plan, controllerId }],
      });
      const refused = await direct.result().then(
        () => undefined,
        (e: { cause?: { type?: string; message?: string; nonRetryable?: boolean } }) => e.cause,
      );
      expect(refused).toMatchObject({ type: 'BAD_INPUT', nonRetryable: true });
      expect(refused?.message).toContain('not by the controller');
      // Garbage input fails the workflow at once instead of retrying its task forever.
      const garbage = await h.client.workflow.start('operationWorkflow', {
        workflowId: `${controllerId}/garbage`,
        taskQueue: h.taskQueue,
        args: [{ plan: { version: 1, groups: 'nope' } }],
      });
      const failed = await garbage.result().then(
        () => undefined,
        (e: { cause?: { type?: string } }) => e.cause,
      );
      expect(failed?.type).toBe('BAD_INPUT');
      expect(h.secondary.calls).toEqual([]);
      await saveHistory(h.client, garbage.workflowId, 'operationWorkflow', 'bad-input');
    });
  });

  it('failover moves the active site and the fence; a failback that cannot ship its final reprotect leaves them; the controller survives continue-as-new', async () => {
    const hooks = makeHooksDir();
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    await withHarness(plan, { hooksDir: hooks.dir }, async (h) => {
      const id = controllerWorkflowId(h.plan.runbook.name);
      // Start the controller ourselves, with a tiny history budget, so it continues-as-new often.
      await h.client.workflow.start('runbookController', {
        workflowId: id,
        taskQueue: h.taskQueue,
        args: [{ runbook: h.plan.runbook.name, continueAsNewAfterEvents: 12 }],
      });
      const firstRun = (await h.client.workflow.getHandle(id).describe()).runId;
      const failover = await h.start('failover', { mode: 'disaster' });
      await eventually(async () => {
        const s = await runbookState(h.client, h.plan.runbook.name);
        return s.phase === 'failed-over-uncommitted' ? s : undefined;
      });
      const state1 = await runbookState(h.client, h.plan.runbook.name);
      expect(state1).toMatchObject({ activeSite: 'secondary', fence: { site: 'primary' } });
      await commitFailover(h.client, {
        operationId: failover.id,
        decision: 'commit',
        reason: 'primary is gone',
        key: alice,
      });
      const r = (await h.client.workflow.getHandle(failover.id).result()) as OperationResult;
      expect(r.outcome).toBe('succeeded');
      for (const vm of ['a-1', 'b-1', 'c-1', 'd-1']) {
        expect(h.secondary.vmState(vm)).toBe('running');
        expect(h.primary.vmState(vm)).toBe('shut off');
      }
      const state2 = await eventually(async () => {
        const s = await runbookState(h.client, h.plan.runbook.name);
        return s.phase === 'failed-over-committed' ? s : undefined;
      });
      expect(state2.inFlight).toEqual([]);
      // No drill while failed over.
      expect((await refused(h.start('drill'))).code).toBe('STATE');
      // These site workers have no data plane: the failback's final reprotect is refused at
      // once, the failback rolls back, and production stays at the secondary, still fenced.
      // (A failback that ships it and moves the active site home: test/integration/failback.)
      const failback = await h.start('failback');
      const fb = await h.client.workflow
        .getHandle(failback.id)
        .result()
        .then(
          () => undefined,
          (e: { cause?: { type?: string; message?: string } }) => e.cause,
        );
      expect(fb?.type).toBe('OPERATION_ROLLED_BACK');
      expect(fb?.message).toMatch(
        /the final reprotect: .*serves no replication: it cannot reprotect or fail back/,
      );
      const state3 = await eventually(async () => {
        const s = await runbookState(h.client, h.plan.runbook.name);
        return s.inFlight.length === 0 && s.recent.length === 2 ? s : undefined;
      });
      expect(state3).toMatchObject({
        phase: 'failed-over-committed',
        activeSite: 'secondary',
        fence: { site: 'primary' },
      });
      expect(state3.counters).toEqual({ failover: 1, failback: 1 });
      expect(state3.recent.map((o) => [o.kind, o.outcome])).toEqual([
        ['failover', 'succeeded'],
        ['failback', 'rolled-back'],
      ]);
      for (const vm of ['a-1', 'b-1', 'c-1', 'd-1']) {
        expect(h.secondary.vmState(vm)).toBe('running');
        expect(h.primary.vmState(vm)).toBe('shut off');
      }
      // The controller continued-as-new at least once and kept its state.
      const lastRun = (await h.client.workflow.getHandle(id).describe()).runId;
      expect(lastRun).not.toBe(firstRun);
      await saveHistory(h.client, failover.id, 'operationWorkflow', 'failover-commit');
      await saveHistory(h.client, id, 'runbookController', 'failover-failback');
    });
  });
});
