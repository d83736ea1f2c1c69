/**
 * What a protection Schedule starts (`protect/<runbook>/<kind>`, platform/protection.ts): one
 * request to the runbook's controller for a replication cycle or a drill, then waiting for that
 * operation to end, so the Schedule's overlap policy (skip, one buffered) sees a cycle that
 * takes longer than `every` as still running instead of stacking requests. A refusal (a cycle
 * or a failover in flight) ends the run with the refusal as its result: the Schedule's next
 * action tries again.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ProtectionActivities } from '../activities/protection.ts';
import type { Plan } from '../runbooks/plan.ts';
import { guardInput } from './guard.ts';

export interface ProtectionRunInput {
  runbook: string;
  kind: 'replication' | 'drill';
  plan: Plan;
}

export type ProtectionRunResult =
  | { admitted: true; id: string; outcome: string }
  | { admitted: false; code: string; message: string };

/** Problems with a scheduled run's input; it has no parent (a Schedule starts it). */
export function validateProtectionRunInput(input: unknown): string[] {
  if (!input || typeof input !== 'object') return ['input must be an object'];
  const i = input as Partial<ProtectionRunInput>;
  const problems: string[] = [];
  if (typeof i.runbook !== 'string' || i.runbook === '') problems.push('runbook must be a name');
  if (i.kind !== 'replication' && i.kind !== 'drill') problems.push('kind must be replication or drill');
  if (!i.plan || typeof i.plan !== 'object') problems.push('plan is missing');
  else if (i.plan.runbook?.name !== i.runbook) problems.push('plan is for another runbook');
  return problems;
}

const { requestOperation } = proxyActivities<ProtectionActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});
const { awaitOperation } = proxyActivities<ProtectionActivities>({
  // A cycle or a drill may take long; the heartbeat says the waiter is alive.
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
});

export async function protectionRunWorkflow(input: ProtectionRunInput): Promise<ProtectionRunResult> {
  guardInput('protection run', input, (i) => validateProtectionRunInput(i));
  const a = await requestOperation({
    plan: input.plan,
    kind: input.kind,
    taskQueue: workflowInfo().taskQueue,
    requestedBy: `schedule ${workflowInfo().workflowId}`,
  });
  if (!a.admitted) return a;
  const { outcome } = await awaitOperation({ id: a.id, runbook: input.runbook, kind: input.kind });
  return { admitted: true, id: a.id, outcome };
}
