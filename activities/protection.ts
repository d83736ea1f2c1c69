/**
 * Orchestrator activities behind the protection Schedules (workflows/protection.ts) and the
 * pause a failover puts on them. They use the worker's own client (`Context.current().client`).
 */
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { controllerStart } from '../cli/runbook-client.ts';
import { setProtectionPaused as pauseSchedules } from '../platform/protection.ts';
import type { Plan } from '../runbooks/plan.ts';
import { startOperationUpdate } from '../workflows/messages.ts';

export interface RequestOperationInput {
  plan: Plan;
  kind: 'replication' | 'drill';
  taskQueue: string;
  requestedBy?: string;
}

export type RequestOperationResult =
  | { admitted: true; id: string }
  | { admitted: false; code: string; message: string };

export function createProtectionActivities() {
  return {
    /** Asks the controller for the operation; its refusal is a result, not a failure. */
    async requestOperation(input: RequestOperationInput): Promise<RequestOperationResult> {
      const client = Context.current().client;
      try {
        const r = await client.workflow.executeUpdateWithStart(startOperationUpdate, {
          args: [
            {
              kind: input.kind,
              plan: input.plan,
              ...(input.kind === 'drill' && input.requestedBy ? { requestedBy: input.requestedBy } : {}),
            },
          ],
          startWorkflowOperation: controllerStart(input.plan.runbook.name, input.taskQueue),
        });
        return { admitted: true, id: r.id };
      } catch (err) {
        const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (!(cause instanceof ApplicationFailure)) throw err;
        return { admitted: false, code: cause.type ?? 'REFUSED', message: cause.message };
      }
    },

    /** Waits for the operation to end (heartbeating); its outcome, `failed` when it failed. */
    async awaitOperation(input: { id: string }): Promise<{ outcome: string }> {
      const ctx = Context.current();
      const timer = setInterval(() => ctx.heartbeat(), 5_000);
      try {
        const result = (await Promise.race([
          ctx.client.workflow.getHandle(input.id).result(),
          ctx.cancelled,
        ])) as { outcome?: string } | undefined;
        return { outcome: result?.outcome ?? 'succeeded' };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        const name = (err as { cause?: { name?: string } }).cause?.name;
        return { outcome: name === 'CancelledFailure' ? 'cancelled' : 'failed' };
      } finally {
        clearInterval(timer);
      }
    },

    /**
     * Pauses or resumes the runbook's protection Schedules (for a failover: pause when it
     * starts, resume after commit or reprotect). Idempotent: returns the Schedules it changed.
     */
    async setProtectionPaused(input: {
      runbook: string;
      paused: boolean;
      reason: string;
    }): Promise<string[]> {
      return pauseSchedules(Context.current().client, input.runbook, input.paused, input.reason);
    },
  };
}

export type ProtectionActivities = ReturnType<typeof createProtectionActivities>;
