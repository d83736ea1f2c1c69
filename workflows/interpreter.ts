/**
 * The Plan interpreter: one operation (drill, failover, failback) of one runbook, started by the
 * runbook's controller. Waves run in order and the groups of a wave in parallel; every action
 * that changed something pushes its undo, and rollback or cancellation runs the undos in
 * reverse. Large Plans run each group as a child workflow that receives only its slice.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  type ChildWorkflowHandle,
  condition,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PlanGroup } from '../runbooks/plan.ts';
import { compensate } from './compensate.ts';
import { renderDetails } from './details.ts';
import { GateBook } from './gates.ts';
import { groupWorkflow } from './group.ts';
import { runGroup } from './group-runner.ts';
import { guardInput } from './guard.ts';
import {
  abortSignal,
  attentionSignal,
  commitUpdate,
  operationFinishedSignal,
  operationMilestoneSignal,
  progressQuery,
} from './messages.ts';
import { SA } from './search-attributes.ts';
import { WorkflowSemaphore } from './semaphore.ts';
import type {
  Compensation,
  GateView,
  GroupOutcome,
  GroupProgress,
  OperationInput,
  OperationOutcome,
  OperationProgress,
  OperationResult,
  OperationState,
  PauseView,
} from './types.ts';
import { validateOperationInput } from './validate.ts';

export const DEFAULT_BOOT_CONCURRENCY = 8;
/** `childGroups: 'auto'` runs groups as children past either of these sizes. */
export const INLINE_MAX_GROUPS = 40;
export const INLINE_MAX_VMS = 200;
/** At most this many group children run at once. */
export const MAX_PARALLEL_CHILDREN = 25;

type AbortReason = 'rollback' | 'cancelled' | 'commit-rollback';

export async function operationWorkflow(input: OperationInput): Promise<OperationResult> {
  guardInput('operation', input, validateOperationInput);
  const { plan, kind, id } = input;
  const bootLimit = Math.max(1, input.options?.bootConcurrency ?? DEFAULT_BOOT_CONCURRENCY);
  const totalVms = plan.groups.reduce((n, g) => n + g.vms.length, 0);
  const mode = input.options?.childGroups ?? 'auto';
  const useChildren =
    mode === 'always' ||
    (mode === 'auto' && (plan.groups.length > INLINE_MAX_GROUPS || totalVms > INLINE_MAX_VMS));
  const byName = new Map(plan.groups.map((g) => [g.name, g]));

  const progress: OperationProgress = {
    id,
    kind,
    runbook: plan.runbook.name,
    planHash: plan.hash,
    state: 'running',
    wave: 0,
    waves: plan.waves.length,
    startedAt: Date.now(),
    groups: Object.fromEntries(
      plan.groups.map((g): [string, GroupProgress] => [
        g.name,
        { name: g.name, wave: g.wave, state: 'pending', vms: {} },
      ]),
    ),
    gates: [],
    pauses: [],
    decisions: [],
    compensations: { pending: 0, done: 0 },
  };
  const gates = new GateBook(plan.operators, plan.roles, plan.groups);
  gates.install();
  const childAttention = new Map<string, { gates: GateView[]; pauses: PauseView[] }>();
  let abortReason: AbortReason | undefined;
  let commitDecision: 'commit' | 'rollback' | undefined;
  const stack: Compensation[] = [];
  const stackKeys = new Set<string>();
  const limiters = new Map<string, WorkflowSemaphore>();
  const children = new Map<string, ChildWorkflowHandle<typeof groupWorkflow>>();
  let lastState: OperationState | undefined;

  const refresh = (): void => {
    progress.gates = [...gates.openGateViews(), ...[...childAttention.values()].flatMap((a) => a.gates)];
    progress.pauses = [...gates.openPauseViews(), ...[...childAttention.values()].flatMap((a) => a.pauses)];
    progress.decisions = [...gates.decisions, ...childDecisions];
    if (!isFinal(progress.state) && progress.state !== 'waiting-commit') {
      progress.state = abortReason
        ? 'rolling-back'
        : progress.pauses.length > 0
          ? 'paused'
          : progress.gates.length > 0
            ? 'waiting-approval'
            : 'running';
    }
    if (progress.state !== lastState) {
      lastState = progress.state;
      upsertSearchAttributes([{ key: SA.state, value: progress.state }]);
    }
    setCurrentDetails(renderDetails(progress));
  };
  const childDecisions: OperationProgress['decisions'] = [];
  gates.onChange = refresh;

  setHandler(progressQuery, () => progress);
  setHandler(attentionSignal, (a) => {
    childAttention.set(a.group, { gates: a.gates, pauses: a.pauses });
    refresh();
  });
  setHandler(
    commitUpdate,
    (r) => {
      commitDecision = r.decision;
      return { decision: r.decision };
    },
    {
      validator: (r) => {
        if (progress.state !== 'waiting-commit') {
          throw ApplicationFailure.nonRetryable(`${id} is not waiting for a commit`, 'NOT_WAITING_COMMIT');
        }
        if (r.decision !== 'commit' && r.decision !== 'rollback') {
          throw ApplicationFailure.nonRetryable(`unknown decision ${String(r.decision)}`, 'BAD_DECISION');
        }
        if (typeof r.reason !== 'string' || r.reason.trim() === '') {
          throw ApplicationFailure.nonRetryable('a commit decision needs a reason', 'NO_REASON');
        }
      },
    },
  );
  // Cancellation is turned into a cooperative abort: in-flight actions finish and push their
  // undo, nothing new starts, then the undos run. The work itself is in a non-cancellable scope.
  const abort = (reason: AbortReason): void => {
    abortReason ??= reason;
    // Group children stop starting work too; their undos come back in their results.
    // (non-cancellable: after a cancellation request the root scope would cancel the signal itself)
    for (const h of children.values()) {
      void CancellationScope.nonCancellable(() => h.signal(abortSignal, { reason })).catch(() => {});
    }
    refresh();
  };
  CancellationScope.current().cancelRequested.catch(() => abort('cancelled'));
  const push = (c: Compensation): void => {
    if (stackKeys.has(c.key)) return;
    stackKeys.add(c.key);
    stack.push(c);
    progress.compensations.pending = stack.length;
  };
  const limiter = (site: string, limit: number): WorkflowSemaphore => {
    const existing = limiters.get(site);
    if (existing) return existing;
    const created = new WorkflowSemaphore(limit);
    limiters.set(site, created);
    return created;
  };
  refresh();

  const runInline = (g: PlanGroup): Promise<GroupOutcome> =>
    runGroup({
      operationId: id,
      kind,
      group: g,
      sites: plan.sites,
      drillNetwork: plan.drill?.network,
      progress: progress.groups[g.name] as GroupProgress,
      gates,
      bootLimiter: (site) => limiter(site, bootLimit),
      pushCompensation: push,
      aborted: () => abortReason !== undefined,
      changed: refresh,
    });

  const runChild = async (g: PlanGroup, share: number, slots: WorkflowSemaphore): Promise<GroupOutcome> => {
    const gp = progress.groups[g.name] as GroupProgress;
    return slots.with(async () => {
      if (abortReason) return 'aborted';
      const workflowId = `${id}/group/${g.name}`;
      gp.state = 'running';
      gp.startedAt = Date.now();
      gp.workflowId = workflowId;
      refresh();
      const handle = await startChild(groupWorkflow, {
        workflowId,
        args: [
          {
            operationId: id,
            parentId: workflowInfo().workflowId,
            kind,
            group: g,
            sites: plan.sites,
            drillNetwork: plan.drill?.network,
            operators: plan.operators,
            roles: plan.roles,
            bootConcurrency: share,
          },
        ],
      });
      children.set(g.name, handle);
      const r = await handle.result();
      children.delete(g.name);
      childAttention.delete(g.name);
      for (const c of r.compensations) push(c);
      childDecisions.push(...r.decisions);
      gp.state = r.outcome === 'rollback' || r.outcome === 'aborted' ? 'failed' : r.outcome;
      gp.error = r.error;
      gp.endedAt = Date.now();
      refresh();
      return r.outcome;
    });
  };

  const groupStates: OperationResult['groups'] = {};
  await CancellationScope.nonCancellable(async () => {
    for (let w = 0; w < plan.waves.length && !abortReason; w++) {
      progress.wave = w;
      refresh();
      const wave = (plan.waves[w] ?? []).map((n) => byName.get(n) as PlanGroup);
      // Child mode caps the children running at once and gives each a share of the boot limit,
      // so boots across the wave stay within the site's limit.
      const parallel = Math.max(1, Math.min(wave.length, bootLimit, MAX_PARALLEL_CHILDREN));
      const share = Math.max(1, Math.floor(bootLimit / parallel));
      const slots = new WorkflowSemaphore(parallel);
      await Promise.all(
        wave.map(async (g) => {
          const outcome = useChildren ? await runChild(g, share, slots) : await runInline(g);
          if (outcome === 'rollback') abort('rollback');
        }),
      );
    }
    if (!abortReason && kind === 'failover' && plan.failover?.commitWithinMs) {
      progress.state = 'waiting-commit';
      refresh();
      await notifyController({ milestone: 'failed-over-uncommitted' });
      const decided = await condition(
        () => commitDecision !== undefined || abortReason !== undefined,
        plan.failover.commitWithinMs,
      );
      const decision = commitDecision ?? (decided ? 'rollback' : plan.failover.onCommitTimeout);
      progress.state = 'running';
      if (decision === 'rollback') abort(abortReason ?? 'commit-rollback');
      refresh();
    }
    // A drill always cleans up after itself; anything else undoes only when rolling back.
    if (abortReason || kind === 'drill') {
      await compensate(
        id,
        stack,
        (done) => {
          progress.compensations.done = done;
        },
        input.options?.compensationChunk,
      );
    }
  });

  for (const [name, g] of Object.entries(progress.groups)) groupStates[name] = g.state;
  const anyContinued = Object.values(groupStates).includes('continued');
  const outcome: OperationOutcome =
    abortReason === 'cancelled'
      ? 'cancelled'
      : abortReason
        ? 'rolled-back'
        : anyContinued
          ? 'partial'
          : 'succeeded';
  if (abortReason) {
    for (const g of Object.values(progress.groups)) if (g.state === 'succeeded') g.state = 'rolled-back';
    for (const [name, g] of Object.entries(progress.groups)) groupStates[name] = g.state;
  }
  progress.state =
    outcome === 'cancelled' ? 'cancelled' : outcome === 'rolled-back' ? 'rolled-back' : 'succeeded';
  progress.endedAt = Date.now();
  const failedGroups = Object.values(progress.groups).filter((g) => g.error);
  progress.error = failedGroups.map((g) => `${g.name}: ${g.error}`).join('; ') || undefined;
  refresh();
  const result: OperationResult = {
    id,
    kind,
    outcome,
    groups: groupStates,
    decisions: progress.decisions,
    error: progress.error,
  };
  await notifyController({ finished: result });

  if (outcome === 'cancelled')
    throw new CancelledFailure(`operation ${id} cancelled; its actions were undone`);
  if (outcome === 'rolled-back') {
    throw ApplicationFailure.create({
      type: 'OPERATION_ROLLED_BACK',
      message: `operation ${id} rolled back: ${progress.error ?? abortReason}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;

  async function notifyController(
    msg: { milestone: 'failed-over-uncommitted' } | { finished: OperationResult },
  ): Promise<void> {
    const controller = getExternalWorkflowHandle(input.controllerId);
    await CancellationScope.nonCancellable(async () => {
      try {
        if ('milestone' in msg) {
          await controller.signal(operationMilestoneSignal, { id, milestone: msg.milestone });
        } else {
          await controller.signal(operationFinishedSignal, {
            id,
            outcome: msg.finished.outcome,
            error: msg.finished.error,
            decisions: msg.finished.decisions,
          });
        }
      } catch {
        // The controller is gone (terminated by hand); the operation's own result still stands.
      }
    });
  }
}

function isFinal(s: OperationState): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'rolled-back' || s === 'cancelled';
}
