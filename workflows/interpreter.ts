/**
 * The Plan interpreter: one operation (drill, failover, failback) of one runbook, started by the
 * runbook's controller. Waves run in order and the groups of a wave in parallel; every action
 * that changed something pushes its undo, and rollback or cancellation runs the undos in
 * reverse. Large Plans run each group as a child workflow that receives only its slice. A drill
 * first picks and holds a point set, builds its VMs from it, and ends with a teardown proof and
 * an evidence record (workflows/drill.ts). The parts are in workflows/operation-run.ts.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, patched } from '@temporalio/workflow';
import { DrillRestore } from './drill.ts';
import { FAILBACK_FINAL_REPROTECT, FailbackMove } from './failback.ts';
import { FAILOVER_FROM_POINTS, FailoverRestore } from './failover.ts';
import { guardInput } from './guard.ts';
import { OperationRun } from './operation-run.ts';
import type { OperationInput, OperationResult } from './types.ts';
import { validateOperationInput } from './validate.ts';

export {
  DEFAULT_BOOT_CONCURRENCY,
  INLINE_MAX_GROUPS,
  INLINE_MAX_VMS,
  MAX_PARALLEL_CHILDREN,
} from './operation-run.ts';

export async function operationWorkflow(input: OperationInput): Promise<OperationResult> {
  guardInput('operation', input, validateOperationInput);
  const run = new OperationRun(input);
  run.install();
  // Drills build their VMs from recovery points (operations started before that replay without).
  const drill = input.kind === 'drill' && patched('drill-from-points') ? new DrillRestore(run) : undefined;
  // Failovers too (those started before replay the old way, with the VM defined at the secondary).
  const failover =
    input.kind === 'failover' && patched(FAILOVER_FROM_POINTS) ? new FailoverRestore(run) : undefined;
  // Failbacks shut the secondary down, ship a final reprotect and prove no loss before the waves.
  const failback =
    input.kind === 'failback' && patched(FAILBACK_FINAL_REPROTECT) ? new FailbackMove(run) : undefined;

  await CancellationScope.nonCancellable(async () => {
    if (drill) await drill.choosePoints();
    if (failover) await failover.prepare();
    if (failback) await failback.prepare();
    if (!drill?.refused && !failover?.refused && !failback?.refused) await run.runWaves();
    drill?.healthy();
    failover?.healthy();
    failback?.healthy();
    await run.awaitCommit();
    await run.undo();
    await failover?.restartPrimary();
    await failback?.restartSecondary();
    await failback?.cleanUp();
  });
  await drill?.proveTeardown();

  const result = drill
    ? drill.finish()
    : failover
      ? failover.finish()
      : failback
        ? failback.finish()
        : run.finish();
  if (drill) await drill.record(result);
  if (failover) await failover.record(result);
  if (failback) await failback.record(result);
  await run.notifyController({ finished: result });

  const { id } = input;
  if (result.outcome === 'cancelled') {
    throw new CancelledFailure(`operation ${id} cancelled; its actions were undone`, [result]);
  }
  if (result.outcome === 'failed') {
    throw ApplicationFailure.create({
      type: 'OPERATION_FAILED',
      message: `operation ${id} failed: ${result.error}`,
      nonRetryable: true,
      details: [result],
    });
  }
  if (result.outcome === 'rolled-back') {
    throw ApplicationFailure.create({
      type: 'OPERATION_ROLLED_BACK',
      message: `operation ${id} rolled back: ${result.error ?? run.abortReason}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
