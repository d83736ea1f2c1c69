/**
 * Rollback: the undo of every completed action, run in reverse order of completion. Callers run
 * this inside a non-cancellable scope so a cancellation cannot interrupt it halfway.
 */
import { CancellationScope, executeChild } from '@temporalio/workflow';
import type { SiteActivities } from '../activities/index.ts';
import { describe, VM_ACTION_HEARTBEAT_TIMEOUT } from './group-runner.ts';
import { guardInput } from './guard.ts';
import { proxySiteActivities } from './site-proxy.ts';
import type { Compensation } from './types.ts';
import { validateCompensationInput } from './validate-children.ts';

/** Stacks larger than this run in chunks as child workflows, to keep each history small. */
export const INLINE_COMPENSATIONS = 300;

export interface CompensationReport {
  done: number;
  failed: Array<{ key: string; error: string }>;
}

/** Runs `stack` from its end to its start, one undo at a time. */
export async function compensate(
  operationId: string,
  stack: readonly Compensation[],
  onStep: (done: number) => void = () => {},
  chunk = INLINE_COMPENSATIONS,
): Promise<CompensationReport> {
  return CancellationScope.nonCancellable(async () => {
    const report: CompensationReport = { done: 0, failed: [] };
    if (stack.length <= chunk) {
      await runInline(operationId, [...stack].reverse(), report, onStep);
      return report;
    }
    for (let end = stack.length; end > 0; end -= chunk) {
      const part = stack.slice(Math.max(0, end - chunk), end);
      const r = await executeChild(compensationWorkflow, {
        // Named after the operation, not workflowInfo(): replay runs under another workflow id.
        workflowId: `${operationId}/compensate/${end}`,
        args: [{ operationId, stack: part }],
      });
      report.done += r.done;
      report.failed.push(...r.failed);
      onStep(report.done);
    }
    return report;
  });
}

async function runInline(
  operationId: string,
  reversed: readonly Compensation[],
  report: CompensationReport,
  onStep: (done: number) => void,
): Promise<void> {
  for (const c of reversed) {
    const acts = proxySiteActivities<SiteActivities>(c.siteName, {
      startToCloseTimeout: '10 minutes',
      heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
      retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '30s' },
    });
    try {
      await acts.vmAction({
        operationId,
        action: c.action,
        vm: c.vm,
        networkName: c.network,
        ...(c.restore ? { restore: c.restore } : {}),
      });
    } catch (err) {
      // An undo that keeps failing is reported, and the rest of the rollback still runs.
      report.failed.push({ key: c.key, error: describe(err) });
    }
    report.done++;
    onStep(report.done);
  }
}

/** A chunk of a large rollback, run in reverse; a child of the operation it undoes. */
export async function compensationWorkflow(input: {
  operationId: string;
  stack: Compensation[];
}): Promise<CompensationReport> {
  guardInput('compensation', input, validateCompensationInput);
  const report: CompensationReport = { done: 0, failed: [] };
  await runInline(input.operationId, [...input.stack].reverse(), report, () => {});
  return report;
}
