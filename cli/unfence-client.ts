/**
 * `lifeboat unfence`, client side (shared by the CLI and the tests): signs `{workflowId, stepId:
 * unfence, decision: unfence, reason, time}` with the operator's key and runs `unfenceWorkflow`,
 * which checks the signature and the role, lifts the fence at the site and tells the controller.
 */
import type { Client } from '@temporalio/client';
import { type OperatorKey, signAnyDecision } from '../approvals/keys.ts';
import { UNFENCE_STEP } from '../approvals/payload.ts';
import { controllerWorkflowId, ORCHESTRATOR_TASK_QUEUE } from '../platform/names.ts';
import type { Plan } from '../runbooks/plan.ts';
import type { UnfenceResult } from '../workflows/fence.ts';
import { RequestRefusedError, refusalsAsErrors, runbookState } from './runbook-client.ts';

export async function unfence(
  client: Client,
  req: { plan: Plan; reason: string; key: OperatorKey; taskQueue?: string; now?: Date },
): Promise<UnfenceResult> {
  const runbook = req.plan.runbook.name;
  const state = await runbookState(client, runbook);
  if (!state.fence) {
    throw new RequestRefusedError(
      'NOT_FENCED',
      `runbook ${runbook} has no fence to lift`,
      'see lifeboat status',
      {},
    );
  }
  const site = state.fence.site;
  const now = req.now ?? new Date();
  const workflowId = `${controllerWorkflowId(runbook)}/unfence/${now.getTime()}`;
  const decision = signAnyDecision(req.key, {
    workflowId,
    stepId: UNFENCE_STEP,
    decision: 'unfence',
    reason: req.reason,
    time: now.toISOString(),
  });
  return refusalsAsErrors(() =>
    client.workflow.execute('unfenceWorkflow', {
      workflowId,
      taskQueue: req.taskQueue ?? ORCHESTRATOR_TASK_QUEUE,
      args: [{ plan: req.plan, site, decision, controllerId: controllerWorkflowId(runbook) }],
    }),
  );
}
