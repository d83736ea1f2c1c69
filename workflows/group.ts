/**
 * One group of a large Plan as its own child workflow: it receives only its slice of the Plan,
 * so neither its payloads nor its history grow with the size of the whole runbook.
 */
import {
  CancellationScope,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { IsolationProbeResult } from '../activities/index.ts';
import { parseOperationWorkflowId } from '../platform/names.ts';
import { GateBook } from './gates.ts';
import { runGroup } from './group-runner.ts';
import { guardInput } from './guard.ts';
import { abortSignal, attentionSignal, groupProgressQuery } from './messages.ts';
import { WorkflowSemaphore } from './semaphore.ts';
import type { CheckRecord, Compensation, GroupInput, GroupProgress, GroupResult } from './types.ts';
import { validateGroupInput } from './validate-children.ts';

export async function groupWorkflow(input: GroupInput): Promise<GroupResult> {
  guardInput('group', input, validateGroupInput);
  const progress: GroupProgress = {
    name: input.group.name,
    wave: input.group.wave,
    state: 'pending',
    workflowId: workflowInfo().workflowId,
    vms: {},
  };
  const compensations: Compensation[] = [];
  const checks: CheckRecord[] = [];
  const probes: IsolationProbeResult[] = [];
  const keys = new Set<string>();
  const limiters = new Map<string, WorkflowSemaphore>();
  let aborted = false;
  const gates = new GateBook(input.operators, input.roles, [input.group]);
  gates.install();
  const parent = getExternalWorkflowHandle(input.parentId);
  gates.onChange = () => {
    // Only gates and pauses are reported upwards: people act on them; VM detail stays here.
    void parent
      .signal(attentionSignal, {
        group: input.group.name,
        gates: gates.openGateViews(),
        pauses: gates.openPauseViews(),
      })
      .catch(() => {});
  };
  setHandler(groupProgressQuery, () => progress);
  setHandler(abortSignal, () => {
    aborted = true;
  });
  CancellationScope.current().cancelRequested.catch(() => {
    aborted = true;
  });
  const outcome = await CancellationScope.nonCancellable(() =>
    runGroup({
      operationId: input.operationId,
      runbookName: parseOperationWorkflowId(input.operationId)?.runbook ?? '',
      ...(input.restore ? { restore: input.restore } : {}),
      recordCheck: (c) => checks.push(c),
      recordProbe: (p) => probes.push(p),
      fatal: () => {
        aborted = true;
      },
      kind: input.kind,
      group: input.group,
      sites: input.sites,
      drillNetwork: input.drillNetwork,
      progress,
      gates,
      bootLimiter(site) {
        const existing = limiters.get(site);
        if (existing) return existing;
        const created = new WorkflowSemaphore(input.bootConcurrency);
        limiters.set(site, created);
        return created;
      },
      pushCompensation(c) {
        if (keys.has(c.key)) return;
        keys.add(c.key);
        compensations.push(c);
      },
      aborted: () => aborted,
      changed: () => setCurrentDetails(`group ${progress.name}: ${progress.state} ${progress.step ?? ''}`),
    }),
  );
  return {
    ...(checks.length > 0 ? { checks } : {}),
    ...(probes.length > 0 ? { probes } : {}),
    group: input.group.name,
    outcome,
    compensations,
    decisions: gates.decisions,
    error: progress.error,
  };
}
