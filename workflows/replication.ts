/**
 * A replication cycle for one runbook: started by the runbook's controller (kind
 * `replication`, id `runbook/<name>/replication/<n>`), one child workflow per VM, at most
 * `maxConcurrentTransfers` VMs moving data at a time (the same cap for both sites, since
 * every transfer involves both). Reports its outcome to the controller when it ends.
 */
import {
  CancellationScope,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import type { Plan } from '../runbooks/plan.ts';
import { guardInput } from './guard.ts';
import { operationFinishedSignal } from './messages.ts';
import { replicationVmWorkflow, type VmCycleResult } from './replication-vm.ts';
import { WorkflowSemaphore } from './semaphore.ts';
import type { OperationOutcome } from './types.ts';
import { validateReplicationCycleInput } from './validate-replication.ts';

/** Registered with the cycle: the per-VM child. */
export { replicationVmWorkflow } from './replication-vm.ts';

export interface ReplicationCycleInput {
  id: string;
  plan: Plan;
  controllerId: string;
  options?: { maxConcurrentTransfers?: number; vms?: string[] };
}

export interface ReplicationCycleResult {
  id: string;
  outcome: OperationOutcome;
  vms: VmCycleResult[];
}

/** Point ids sort by time and name their cycle: `<UTC time>-<cycle number>`. */
export function pointIdFor(startedAt: Date, cycleId: string): string {
  const t = startedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const n = /\/(\d+)$/.exec(cycleId)?.[1] ?? '0';
  return `${t}-${n}`;
}

export async function replicationCycleWorkflow(
  input: ReplicationCycleInput,
): Promise<ReplicationCycleResult> {
  guardInput('replication cycle', input, validateReplicationCycleInput);
  const { plan } = input;
  const pointId = pointIdFor(workflowInfo().startTime, input.id);
  const only = input.options?.vms;
  const vms = plan.groups.flatMap((g) => {
    // The group's `data` commands run in each of its VMs as the point is taken.
    const dataCommands = g.checks.flatMap((c) => (c.kind === 'data' && c.command ? [c.command] : []));
    return g.vms
      .filter((v) => only === undefined || only.includes(v.name))
      .map((v) => ({ vm: v.name, group: g.name, dataCommands }));
  });
  const sem = new WorkflowSemaphore(Math.max(1, input.options?.maxConcurrentTransfers ?? 2));
  let results: VmCycleResult[] = [];
  let outcome: OperationOutcome = 'failed';
  let error: string | undefined;
  try {
    results = await Promise.all(
      vms.map(({ vm, group, dataCommands }) =>
        sem.with(() =>
          executeChild(replicationVmWorkflow, {
            workflowId: `${input.id}/${vm}`,
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
            args: [
              {
                cycleId: input.id,
                runbook: plan.runbook.name,
                group,
                vm,
                domain: vm,
                pointId,
                primarySite: plan.sites.primary.name,
                secondarySite: plan.sites.secondary.name,
                consistency: plan.replication.consistency,
                ...(dataCommands.length === 0 ? {} : { dataCommands }),
              },
            ],
          }),
        ),
      ),
    );
    const ok = results.filter((r) => r.outcome === 'committed').length;
    outcome = ok === results.length ? 'succeeded' : ok === 0 ? 'failed' : 'partial';
    error = results
      .filter((r) => r.error !== undefined)
      .map((r) => `${r.vm}: ${r.error}`)
      .join('; ');
  } catch (err) {
    outcome = isCancellation(err) ? 'cancelled' : 'failed';
    error = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    // Awaited before the cycle closes: the server drops a signal whose sender has already
    // closed (tried: the controller never heard of the cycle and refused the next one).
    await CancellationScope.nonCancellable(async () => {
      await getExternalWorkflowHandle(input.controllerId)
        .signal(operationFinishedSignal, { id: input.id, outcome, ...(error ? { error } : {}) })
        .catch(() => undefined);
    });
  }
  return { id: input.id, outcome, vms: results };
}
