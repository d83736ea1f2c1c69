/**
 * Runs one group of a Plan for one operation: the steps the operation runs before, the VM
 * actions (VMs in parallel, boots capped per site), checks, the steps after; then applies the
 * group's onFailure policy. Shared by the interpreter (inline) and the per-group child workflow.
 */
import { ApplicationFailure, CancellationScope, condition, patched } from '@temporalio/workflow';
import type { IsolationProbeResult, SiteActivities } from '../activities/index.ts';
import type { OperationKind, PlanCheck, PlanGroup, PlanSite, PlanStep, SiteRole } from '../runbooks/plan.ts';
import type { GateBook } from './gates.ts';
import type { WorkflowSemaphore } from './semaphore.ts';
import { proxySiteActivities } from './site-proxy.ts';
import type {
  CheckRecord,
  Compensation,
  GroupOutcome,
  GroupProgress,
  GroupRestore,
  RestoreRef,
  VmAction,
} from './types.ts';
import { stepsFor, vmActionsFor } from './vm-actions.ts';

export interface GroupEnv {
  operationId: string;
  runbookName: string;
  kind: OperationKind;
  group: PlanGroup;
  sites: Record<SiteRole, PlanSite>;
  drillNetwork?: string;
  progress: GroupProgress;
  gates: GateBook;
  bootLimiter(siteName: string): WorkflowSemaphore;
  pushCompensation(c: Compensation): void;
  /** True once the operation is rolling back or cancelled: start nothing new. */
  aborted(): boolean;
  /** Called when the group's visible state changes (progress, current details). */
  changed(): void;
  /** Drills: the point the VMs are built from, and each VM's copy. */
  restore?: GroupRestore;
  /** Every check's result, passed or failed (evidence). */
  recordCheck?(c: CheckRecord): void;
  /** Every isolation probe's result (evidence). */
  recordProbe?(p: IsolationProbeResult): void;
  /** Stops the whole operation, whatever the group's onFailure says (isolation breached). */
  fatal?(reason: string): void;
}

/** Raised when a drill copy can reach production: no policy may continue past it. */
export const ISOLATION_BREACHED = 'ISOLATION_BREACHED';

/** The site the operation brings VMs up on. */
export function targetRole(kind: OperationKind): SiteRole {
  return kind === 'failback' ? 'primary' : 'secondary';
}

/** A site worker that dies mid-activity is noticed after this long, and the activity retried. */
export const VM_ACTION_HEARTBEAT_TIMEOUT = '15s';
/** Patch id: running checks are cancelled when the operation aborts. */
const CHECKS_STOP_ON_ABORT = 'checks-stop-on-abort';

export class AbortedError extends Error {
  constructor() {
    super('operation aborted');
    this.name = 'AbortedError';
  }
}

export async function runGroup(env: GroupEnv): Promise<GroupOutcome> {
  const done = new Set<string>();
  const p = env.progress;
  p.state = 'running';
  p.startedAt = Date.now();
  env.changed();
  for (;;) {
    try {
      await runGroupOnce(env, done);
      return finish(env, 'succeeded');
    } catch (err) {
      if (env.aborted() || err instanceof AbortedError) return finish(env, 'aborted');
      p.error = describe(err);
      if (err instanceof ApplicationFailure && err.type === ISOLATION_BREACHED) {
        env.fatal?.(p.error);
        return finish(env, 'rollback');
      }
      if (env.group.onFailure === 'continue') return finish(env, 'continued');
      if (env.group.onFailure === 'rollback') return finish(env, 'rollback');
      p.state = 'paused';
      env.changed();
      const pause = env.gates.openPause(env.group.name, p.error);
      await condition(() => pause.decision !== undefined || env.aborted());
      env.gates.closePause(env.group.name);
      if (env.aborted() && pause.decision === undefined) return finish(env, 'aborted');
      if (pause.decision === 'continue') return finish(env, 'continued');
      if (pause.decision === 'rollback') return finish(env, 'rollback');
      p.state = 'running';
      p.error = undefined;
      env.changed();
    }
  }
}

function finish(env: GroupEnv, outcome: GroupOutcome): GroupOutcome {
  const p = env.progress;
  p.state = outcome === 'rollback' || outcome === 'aborted' ? 'failed' : outcome;
  p.step = undefined;
  p.endedAt = Date.now();
  env.changed();
  return outcome;
}

async function runGroupOnce(env: GroupEnv, done: Set<string>): Promise<void> {
  for (const step of stepsFor(env.kind, env.group.before)) await runStepOnce(env, step, done);
  await runVmActions(env);
  await runChecks(env);
  for (const step of stepsFor(env.kind, env.group.after)) await runStepOnce(env, step, done);
}

/** Steps that completed are not run again when a paused group resumes. */
async function runStepOnce(env: GroupEnv, step: PlanStep, done: Set<string>): Promise<void> {
  if (done.has(step.id)) return;
  if (env.aborted()) throw new AbortedError();
  env.progress.step = step.id;
  env.changed();
  await runStep(env, step);
  done.add(step.id);
}

async function runStep(env: GroupEnv, step: PlanStep): Promise<void> {
  switch (step.kind) {
    case 'wait':
      // A condition rather than sleep, so a rollback or cancellation does not wait it out.
      await condition(() => env.aborted(), step.forMs);
      if (env.aborted()) throw new AbortedError();
      return;
    case 'run': {
      const site = env.sites[step.on];
      const acts = proxySiteActivities<SiteActivities>(site.name, {
        startToCloseTimeout: step.withinMs + 30_000,
        heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
        retry: { maximumAttempts: 3, initialInterval: '1s' },
      });
      await acts.runHook({
        operationId: env.operationId,
        stepId: step.id,
        command: step.command,
        args: step.args,
        withinMs: step.withinMs,
        sha256: step.sha256,
      });
      return;
    }
    case 'approval': {
      env.progress.state = 'waiting-approval';
      env.changed();
      const gate = env.gates.openGate(step);
      const decided = await condition(() => gate.decision !== undefined || env.aborted(), step.withinMs);
      env.gates.closeGate(step.id);
      env.progress.state = 'running';
      env.changed();
      if (gate.decision === undefined && env.aborted()) throw new AbortedError();
      if (!decided) {
        throw ApplicationFailure.nonRetryable(
          `gate ${step.id} expired after ${step.withinMs} ms`,
          'GATE_EXPIRED',
        );
      }
      const d = gate.decision;
      if (d?.decision === 'reject') {
        throw ApplicationFailure.nonRetryable(
          `gate ${step.id} rejected by ${d.operator}: ${d.reason}`,
          'GATE_REJECTED',
        );
      }
      return;
    }
  }
}

async function runVmActions(env: GroupEnv): Promise<void> {
  const perVm = vmActionsFor(env.kind, env.group, {
    drillNetwork: env.drillNetwork,
    fromPoints: env.restore !== undefined,
  });
  env.progress.step = 'vms';
  env.changed();
  // allSettled, not all: every in-flight action must finish (and push its undo) before the
  // group reports failure, or rollback would miss it.
  const results = await Promise.allSettled(perVm.map(({ vm, actions }) => runVm(env, vm, actions)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** patched() id: a start or stop records its undo from the state it left, not from `changed`. */
export const UNDO_FROM_STATE_PATCH = 'vm-undo-from-resulting-state';

/**
 * A start or stop that succeeded left the VM in the state its undo reverses, whether this
 * attempt changed it or an earlier attempt did and its completion was lost (the retry then
 * says `changed: false`). Asked only when `changed` says no, so histories without such a retry
 * carry no marker. A prepare keeps `changed`: its undo removes a definition the site may have
 * held before the operation.
 */
function undoFromState(a: VmAction): boolean {
  if (a.undo === undefined || (a.action !== 'startVm' && a.action !== 'stopVm')) return false;
  return patched(UNDO_FROM_STATE_PATCH);
}

async function runVm(env: GroupEnv, vm: string, actions: VmAction[]): Promise<void> {
  const vp = env.progress.vms[vm] ?? { state: 'pending' };
  env.progress.vms[vm] = vp;
  for (const a of actions) {
    if (env.aborted()) throw new AbortedError();
    const site = env.sites[a.site];
    vp.action = a.action;
    vp.state = 'running';
    vp.startedAt ??= Date.now();
    const run = () => runAction(env, site, a);
    try {
      const r = a.boot ? await env.bootLimiter(site.name).with(run) : await run();
      if ((r.changed || a.alwaysUndo || undoFromState(a)) && a.undo) {
        const undoSite = env.sites[a.undo.site];
        const restore = a.undo.fromPoint ? restoreRef(env) : undefined;
        env.pushCompensation({
          key: `${undoSite.name}/${a.undo.action}/${vm}`,
          group: env.group.name,
          siteName: undoSite.name,
          action: a.undo.action,
          vm,
          network: a.undo.network ? networkName(undoSite, a.undo.network) : undefined,
          ...(restore ? { restore } : {}),
        });
      }
    } catch (err) {
      if (a.bestEffort) continue;
      vp.state = 'failed';
      throw err;
    }
  }
  vp.state = 'done';
  vp.endedAt = Date.now();
}

function runAction(env: GroupEnv, site: PlanSite, a: VmAction) {
  const acts = proxySiteActivities<SiteActivities>(site.name, {
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: a.bestEffort ? 2 : 5, initialInterval: '1s', maximumInterval: '30s' },
  });
  const restore = a.fromPoint ? restoreRef(env) : undefined;
  return acts.vmAction({
    operationId: env.operationId,
    action: a.action,
    vm: a.vm,
    networkName: a.network ? networkName(site, a.network) : undefined,
    ...(restore ? { restore } : {}),
  });
}

function restoreRef(env: GroupEnv): RestoreRef {
  if (!env.restore) {
    throw ApplicationFailure.nonRetryable(
      `${env.kind} builds VMs from a point, but none was chosen`,
      'NO_POINT',
    );
  }
  return { purpose: env.kind, runbook: env.runbookName, pointId: env.restore.pointId };
}

/** A network role (bubble, production) to the site's own network name; unmapped roles pass through. */
export function networkName(site: PlanSite, role: string): string {
  return site.networks[role] ?? role;
}

async function runChecks(env: GroupEnv): Promise<void> {
  if (env.group.checks.length === 0) return;
  if (env.aborted()) throw new AbortedError();
  env.progress.step = 'checks';
  env.changed();
  const site = env.sites[targetRole(env.kind)];
  const all = (): Promise<PromiseSettledResult<unknown>[]> => {
    const jobs: Array<Promise<unknown>> = [];
    for (const check of env.group.checks) {
      for (const vm of env.group.vms) jobs.push(runCheck(env, site, check, vm.name));
    }
    // A drill proves each copy is cut off from production, from inside the copy.
    if (env.restore && env.kind === 'drill') {
      for (const vm of env.group.vms) jobs.push(probeIsolation(env, site, vm.name));
    }
    return Promise.allSettled(jobs);
  };
  let results: PromiseSettledResult<unknown>[];
  if (patched(CHECKS_STOP_ON_ABORT)) {
    // Checks only read: an abort (a drill's time is up, another group failed, a breach) stops
    // them at once instead of after their `within`, so the teardown starts now.
    const scope = new CancellationScope();
    void condition(() => env.aborted()).then(() => scope.cancel());
    results = await scope.run(all);
  } else results = await all();
  const breach = results.find(
    (r): r is PromiseRejectedResult =>
      r.status === 'rejected' &&
      r.reason instanceof ApplicationFailure &&
      r.reason.type === ISOLATION_BREACHED,
  );
  const failed = breach ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function runCheck(env: GroupEnv, site: PlanSite, check: PlanCheck, vm: string): Promise<void> {
  const acts = proxySiteActivities<SiteActivities>(site.name, {
    startToCloseTimeout: check.withinMs + 60_000,
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 3, initialInterval: '1s' },
  });
  const copy = env.restore?.vms[vm];
  const startedAt = Date.now();
  const record = (outcome: CheckRecord['outcome'], output: string, attempts: number): void =>
    env.recordCheck?.({
      id: check.id,
      group: env.group.name,
      vm,
      kind: check.kind,
      outcome,
      output,
      attempts,
      startedAt,
      endedAt: Date.now(),
    });
  try {
    const r = await acts.runCheck({
      operationId: env.operationId,
      check,
      vm,
      ...(copy ? { domain: copy.domain } : {}),
      ...(copy && check.kind === 'data' && env.restore
        ? {
            data: {
              records: copy.records,
              writtenBeforeMs: env.restore.startedAtMs,
              ...(copy.commands === undefined ? {} : { commands: copy.commands }),
            },
          }
        : {}),
    });
    record(r.outcome, r.detail, r.attempts);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const details =
      cause instanceof ApplicationFailure
        ? (cause.details?.[0] as { last?: string; attempts?: number } | undefined)
        : undefined;
    record('failed', details?.last ?? describe(err), details?.attempts ?? 0);
    throw err;
  }
}

async function probeIsolation(env: GroupEnv, site: PlanSite, vm: string): Promise<void> {
  const copy = env.restore?.vms[vm];
  if (!copy) return;
  const acts = proxySiteActivities<SiteActivities>(site.name, {
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 3, initialInterval: '1s' },
  });
  const probes = await acts.restoreIsolationProbe({ vm, domain: copy.domain, timeoutMs: 120_000 });
  for (const p of probes) env.recordProbe?.(p);
  const reached = probes.filter((p) => p.outcome === 'reachable');
  if (reached.length > 0) {
    throw ApplicationFailure.create({
      type: ISOLATION_BREACHED,
      message: `isolation breached: from inside ${copy.domain}, ${reached.map((p) => p.target).join(', ')} answered on the drill network (${reached[0]?.detail})`,
      nonRetryable: true,
    });
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
