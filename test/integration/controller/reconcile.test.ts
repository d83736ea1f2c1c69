import { describe, expect, it } from 'vitest';
import { signAnyDecision } from '../../../approvals/keys.ts';
import { cancelStepId } from '../../../approvals/payload.ts';
import {
  cancelOperation,
  operationProgress,
  RequestRefusedError,
  runbookState,
} from '../../../cli/runbook-client.ts';
import { controllerWorkflowId } from '../../../platform/names.ts';
import { cancelOperationUpdate } from '../../../workflows/messages.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_KEY, diamondPlan } from '../../support/plans.ts';
import { eventually, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

/**
 * A child terminated by hand never sends its finished signal. The controller describes it (an
 * activity on the stock client's view of Temporal), frees its slot and records why; `cancel` of a
 * closed operation says so instead of failing.
 */
describe('the controller reconciles with its children', () => {
  it('a drill terminated by hand no longer blocks the runbook; cancel of a closed one says so', async () => {
    const hooks = makeHooksDir();
    await withHarness(diamondPlan(), { hooksDir: hooks.dir }, async (h) => {
      const runbook = h.plan.runbook.name;
      const first = await h.start('drill');
      // Held at b's gate: in flight until someone decides.
      await eventually(async () => (await operationProgress(h.client, first.id)).gates[0]);
      // A running drill still refuses the next one (a plain conflict, nothing freed).
      const conflict = await h.start('drill').catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(RequestRefusedError);
      expect((conflict as RequestRefusedError).code).toBe('CONFLICT');

      await h.client.workflow.getHandle(first.id).terminate('stuck, terminated by hand');
      const second = await h.start('drill');
      expect(second.id).toBe(`runbook/${runbook}/drill/2`);
      const state = await runbookState(h.client, runbook);
      expect(state.inFlight.map((o) => o.id)).toEqual([second.id]);
      const freed = state.recent.find((o) => o.id === first.id);
      expect(freed).toMatchObject({ outcome: 'failed', reconciled: { status: 'TERMINATED' } });
      expect(freed?.reconciled?.reason).toContain(`${first.id} was terminated`);
      expect(freed?.reconciled?.reason).toContain('without reporting to its controller');
      expect(state.heldPoints[first.id]).toBeUndefined();

      // Cancel of the freed one: refused, saying it already ended and how.
      const again = await cancelOperation(h.client, { runbook, operationId: first.id, reason: 'x' }).catch(
        (e: unknown) => e,
      );
      expect(again).toBeInstanceOf(RequestRefusedError);
      expect((again as RequestRefusedError).code).toBe('ALREADY_ENDED');
      expect((again as RequestRefusedError).message).toContain('terminated');

      // Cancel of one terminated while the controller still counts it in flight: freed, and said.
      await eventually(async () => (await operationProgress(h.client, second.id)).gates[0]);
      await h.client.workflow.getHandle(second.id).terminate('terminated by hand too');
      const cancelled = await cancelOperation(h.client, {
        runbook,
        operationId: second.id,
        reason: 'stop it',
        key: ALICE_KEY,
      });
      expect(cancelled.ended).toMatchObject({ id: second.id, kind: 'drill', status: 'TERMINATED' });
      expect(cancelled.ended?.reason).toContain('cancel (stop it)');
      const after = await runbookState(h.client, runbook);
      expect(after.inFlight).toEqual([]);
      expect(after.recent.map((o) => [o.id, o.reconciled?.status])).toEqual([
        [first.id, 'TERMINATED'],
        [second.id, 'TERMINATED'],
      ]);
      const third = await h.start('drill');
      expect(third.id).toBe(`runbook/${runbook}/drill/3`);
      await h.client.workflow.getHandle(third.id).terminate('end of test');
      await h.client.workflow.getHandle(controllerWorkflowId(runbook)).terminate('end of test');
      await saveHistory(h.client, controllerWorkflowId(runbook), 'runbookController', 'reconcile-terminated');
    });
  });

  it('a cancel of a drill is an operator decision: unsigned or by an unknown key refused, signed recorded', async () => {
    const hooks = makeHooksDir();
    await withHarness(diamondPlan(), { hooksDir: hooks.dir }, async (h) => {
      const runbook = h.plan.runbook.name;
      const op = await h.start('drill');
      await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);
      const controller = h.client.workflow.getHandle(controllerWorkflowId(runbook));
      const before = (await controller.fetchHistory()).events?.length ?? 0;
      const refusedWith = async (req: Partial<Parameters<typeof cancelOperation>[1]>) => {
        const err = await cancelOperation(h.client, {
          runbook,
          operationId: op.id,
          reason: 'x',
          ...req,
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RequestRefusedError);
        return err as RequestRefusedError;
      };
      const unsigned = await refusedWith({ by: 'mallory' });
      expect(unsigned.code).toBe('UNSIGNED');
      expect(unsigned.message).toContain('names operators, so it must be signed');
      const stranger = await refusedWith({ key: { ...ALICE_KEY, name: 'mallory' } });
      expect(stranger.code).toBe('UNKNOWN_OPERATOR');
      // alice's signature over another operation's cancel does not cancel this one.
      const elsewhere = signAnyDecision(ALICE_KEY, {
        workflowId: controllerWorkflowId(runbook),
        stepId: cancelStepId(`runbook/${runbook}/drill/9`),
        decision: 'cancel',
        reason: 'x',
        time: new Date().toISOString(),
      });
      const misdirected = await controller
        .executeUpdate(cancelOperationUpdate, { args: [{ id: op.id, reason: 'x', signed: elsewhere }] })
        .catch((e: { cause?: { type?: string } }) => e.cause?.type);
      expect(misdirected).toBe('WRONG_STEP');
      const done = await cancelOperation(h.client, {
        runbook,
        operationId: op.id,
        reason: 'drill no longer needed',
        key: ALICE_KEY,
      });
      expect(done.decision).toMatchObject({
        operator: 'alice',
        decision: 'cancel',
        reason: 'drill no longer needed',
      });
      await expect(h.client.workflow.getHandle(op.id).result()).rejects.toThrow();
      const state = await eventually(async () => {
        const s = await runbookState(h.client, runbook);
        return s.inFlight.length === 0 ? s : undefined;
      });
      const ended = state.recent.find((o) => o.id === op.id);
      expect(ended).toMatchObject({
        outcome: 'cancelled',
        cancelledBy: { operator: 'alice', decision: 'cancel' },
      });
      expect(ended?.cancelledBy?.role).not.toBe('');
      expect(ended?.cancelledBy?.signature).not.toBe('');
      // The operation's own decisions (its evidence's approvals) list the cancel too.
      expect(ended?.decisions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ decision: 'cancel', operator: 'alice', group: '(operation)' }),
        ]),
      );
      await saveHistory(h.client, op.id, 'operationWorkflow', 'drill-cancelled-signed');
      await saveHistory(h.client, controllerWorkflowId(runbook), 'runbookController', 'cancel-signed');
      // The refusals left no trace in the controller's history (validator rejections).
      const events = (await controller.fetchHistory()).events ?? [];
      const rejected = events.slice(before).filter((e) => e.workflowExecutionUpdateRejectedEventAttributes);
      expect(rejected).toEqual([]);
    });
  });
});
