/**
 * What Temporal says of an operation workflow: running, or how it closed. The controller asks
 * this (through an activity) when a child never reported back, and the CLI asks it before
 * asking the controller to reconcile, so a plain conflict stays a refusal without history.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { OperationFinished } from '../workflows/messages.ts';
import type { OperationStatus } from '../workflows/types.ts';

export async function operationStatus(client: Client, id: string): Promise<OperationStatus> {
  const handle = client.workflow.getHandle(id);
  let desc: Awaited<ReturnType<typeof handle.describe>>;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { id, status: 'NOT_FOUND' };
    throw err;
  }
  const status = desc.status.name;
  const closedAt = desc.closeTime?.toISOString();
  const base = { id, ...(closedAt ? { closedAt } : {}) };
  // A paused workflow is still open: it may go on, its slot stays taken.
  if (status === 'RUNNING' || status === 'PAUSED') return { id, status: 'RUNNING' };
  if (status === 'COMPLETED') {
    // The operation's own result carries its outcome (operations and replication cycles alike).
    const result = (await handle.result().catch(() => undefined)) as
      | (Omit<OperationFinished, 'id'> & { outcome?: OperationStatus['outcome'] })
      | undefined;
    // What its finished signal would have carried: the drill's verdict and report among it.
    const { outcome, error, decisions, verdict, evidencePath, report } = result ?? {};
    return {
      ...base,
      status,
      ...(outcome ? { outcome } : {}),
      ...(error ? { error } : {}),
      ...(decisions || verdict || evidencePath || report
        ? { finished: { decisions, verdict, evidencePath, report } }
        : {}),
    };
  }
  if (status === 'FAILED') {
    const error = await handle.result().then(
      () => undefined,
      (e: { cause?: { message?: string }; message?: string }) => e.cause?.message ?? e.message,
    );
    return { ...base, status, ...(error ? { error } : {}) };
  }
  if (status === 'CANCELLED' || status === 'TERMINATED' || status === 'TIMED_OUT') {
    return { ...base, status };
  }
  return { ...base, status: 'UNKNOWN', error: `workflow status ${status}` };
}
