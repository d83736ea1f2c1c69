/**
 * Activities safe to retry: a VM start whose first attempt took effect but whose completion was
 * lost is retried, finds the VM running (`changed: false`), and its undo is still recorded, so
 * a rollback stops the copy it started instead of leaving it running beside production.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { OperationResult } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { diamondPlan, withoutSteps } from '../../support/plans.ts';
import { withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

describe('VM actions retried after a lost completion', () => {
  it('a start whose completion was lost records its undo: the rollback stops that VM', async () => {
    const hooks = makeHooksDir();
    const failures = [
      // a-1 starts at the secondary, then the activity's completion is lost: Temporal retries it.
      { method: 'startVm', vm: 'a-1', times: 1, afterEffect: true },
      // d-1 (the last wave) cannot start: the failover rolls back.
      { method: 'startVm', vm: 'd-1' },
    ];
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    await withHarness(
      plan,
      { hooksDir: hooks.dir, driver: (role) => (role === 'secondary' ? { failures } : {}) },
      async (h) => {
        const op = await h.start('failover', { mode: 'disaster' });
        const err = await h.client.workflow
          .getHandle(op.id)
          .result()
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(WorkflowFailedError);
        const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
        expect(cause).toBeInstanceOf(ApplicationFailure);
        expect(cause.type).toBe('OPERATION_ROLLED_BACK');
        expect((cause.details?.[0] as OperationResult | undefined)?.outcome).toBe('rolled-back');

        // The first attempt started a-1; the retry found it running and started nothing.
        const starts = h.secondary.calls.filter((c) => c.method === 'startVm' && c.vm === 'a-1');
        expect(starts).toMatchObject([{ ok: true, detail: 'took effect, completion lost' }]);
        // Its undo was recorded all the same and ran: the secondary's a-1 is off again, once.
        const stops = h.secondary.calls.filter((c) => c.method === 'shutdownVm' && c.vm === 'a-1' && c.ok);
        expect(stops).toHaveLength(1);
        expect(stops[0]!.start).toBeGreaterThan(starts[0]!.end);
        for (const vm of ['a-1', 'b-1', 'c-1', 'd-1']) {
          expect(h.primary.vmState(vm), `${vm} at the primary`).toBe('running');
          expect(h.secondary.vmState(vm), `${vm} at the secondary`).toBe('shut off');
        }
        await saveHistory(h.client, op.id, 'operationWorkflow', 'failover-rollback-lost-completion');
      },
    );
  });
});
