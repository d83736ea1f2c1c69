import { WorkflowFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { guardedInputs } from '../../support/guarded-inputs.ts';
import { diamondPlan } from '../../support/plans.ts';
import { type Harness, withHarness } from './harness.ts';

const EventType = temporal.api.enums.v1.EventType;

/**
 * Starts `type` from the test's client and returns its failure, after checking that it failed
 * in its first workflow task: no retry loop, no activity, no child, nothing else in its history.
 */
async function refusedAtStart(h: Harness, type: string, workflowId: string, input: unknown) {
  const handle = await h.client.workflow.start(type, { workflowId, taskQueue: h.taskQueue, args: [input] });
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, type).toBeInstanceOf(WorkflowFailedError);
  const events = (await handle.fetchHistory()).events ?? [];
  expect(
    events.map((e) => EventType[e.eventType ?? 0]),
    type,
  ).toEqual([
    'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
    'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
    'EVENT_TYPE_WORKFLOW_TASK_STARTED',
    'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
    'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
  ]);
  return (err as WorkflowFailedError).cause as { type?: string; nonRetryable?: boolean; message?: string };
}

describe('workflow input guards', () => {
  it('child workflow types started around their parents fail at once with BAD_INPUT', async () => {
    await withHarness(diamondPlan(), {}, async (h) => {
      const inputs = guardedInputs(h.plan);
      // Well-formed inputs with their parents' id patterns: only who started them is wrong.
      const cases: Array<[type: string, workflowId: string, input: unknown, parent: string]> = [
        [
          'groupWorkflow',
          `${inputs.operationId}/group/a`,
          inputs.group,
          `its operation ${inputs.operationId}`,
        ],
        [
          'compensationWorkflow',
          `${inputs.operationId}/compensate/1`,
          inputs.compensation,
          `its operation ${inputs.operationId}`,
        ],
        ['replicationCycleWorkflow', inputs.cycleId, inputs.cycle, `the controller ${inputs.controllerId}`],
        [
          'replicationVmWorkflow',
          `${inputs.cycleId}/${inputs.vm.vm}`,
          inputs.vm,
          `its replication cycle ${inputs.cycleId}`,
        ],
      ];
      for (const [type, workflowId, input, parent] of cases) {
        const failure = await refusedAtStart(h, type, workflowId, input);
        expect(failure, type).toMatchObject({ type: 'BAD_INPUT', nonRetryable: true });
        expect(failure.message, type).toContain(`started by a client, not by ${parent}`);
      }
      // The live check's inventory read may be started by anyone, but not with garbage.
      const garbage = await refusedAtStart(h, 'siteInventoryWorkflow', `live-check/${h.plan.runbook.name}`, {
        sites: 'nope',
      });
      expect(garbage).toMatchObject({ type: 'BAD_INPUT', nonRetryable: true });
      expect(garbage.message).toContain('sites is not a list');
      expect(h.primary.calls).toEqual([]);
      expect(h.secondary.calls).toEqual([]);
    });
  });
});
