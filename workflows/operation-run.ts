/**
 * One operation's state and the parts of its run, each a named step the interpreter calls in
 * order: the progress everyone queries, gates and pauses, the cooperative abort, the undo stack,
 * the waves (groups inline or as children), the failover's wait for a commit, the undo, and the
 * result. Workflow code: deterministic, no I/O.
 */
import {
  ApplicationFailure,
  CancellationScope,
  type ChildWorkflowHandle,
  condition,
  getExternalWorkflowHandle,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { IsolationProbeResult } from '../activities/index.ts';
import { approverRoles } from '../approvals/deciders.ts';
import { COMMIT_STEP } from '../approvals/payload.ts';
import type { Plan, PlanGroup } from '../runbooks/plan.ts';
import { compensate } from './compensate.ts';
import { renderDetails } from './details.ts';
import { GateBook } from './gates.ts';
import { groupWorkflow } from './group.ts';
import { runGroup } from './group-runner.ts';
import {
  abortSignal,
  attentionSignal,
  cancelDecisionSignal,
  commitUpdate,
  operationFinishedSignal,
  operationMilestoneSignal,
  pointsHeldSignal,
  progressQuery,
  signedCommitUpdate,
} from './messages.ts';
import { SA } from './search-attributes.ts';
import { WorkflowSemaphore } from './semaphore.ts';
import type {
  CheckRecord,
  Compensation,
  GateView,
  GroupOutcome,
  GroupProgress,
  GroupRestore,
  OperationInput,
  OperationOutcome,
  OperationProgress,
  OperationResult,
  OperationState,
  PauseView,
} from './types.ts';

export const DEFAULT_BOOT_CONCURRENCY = 8;
/** `childGroups: 'auto'` runs groups as children past either of these sizes. */
export const INLINE_MAX_GROUPS = 40;
export const INLINE_MAX_VMS = 200;
/** At most this many group children run at once. */
export const MAX_PARALLEL_CHILDREN = 25;

/** Patch id: a partial failover (some groups failed) waits for an operator, never for its timeout. */
export const PARTIAL_FAILOVER_WAITS = 'partial-failover-waits';

export type AbortReason = 'rollback' | 'cancelled' | 'commit-rollback' | 'expired';

export class OperationRun {
  readonly plan: Plan;
  readonly progress: OperationProgress;
  /** Why the run stops starting work; set once, by the first reason. */
  abortReason: AbortReason | undefined;
  /** Drills and failovers: the point the VMs are built from (set by the preflight). */
  restore: GroupRestore | undefined;
  /** Every check and isolation probe, in the order they ended (evidence). */
  readonly checks: CheckRecord[] = [];
  readonly probes: IsolationProbeResult[] = [];

  private readonly bootLimit: number;
  private readonly useChildren: boolean;
  private readonly byName: Map<string, PlanGroup>;
  private readonly gates: GateBook;
  private readonly childAttention = new Map<string, { gates: GateView[]; pauses: PauseView[] }>();
  private readonly childDecisions: OperationProgress['decisions'] = [];
  private readonly children = new Map<string, ChildWorkflowHandle<typeof groupWorkflow>>();
  private readonly stack: Compensation[] = [];
  private readonly stackKeys = new Set<string>();
  private readonly limiters = new Map<string, WorkflowSemaphore>();
  private commitDecision: 'commit' | 'rollback' | undefined;
  /** When the failover began waiting for its commit: older signed decisions are stale. */
  private commitOpenedAt: number | undefined;
  /** A disaster failover's commit window ran out: kept, not rolled back (evidence says so). */
  commitTimeoutKept = false;
  private lastState: OperationState | undefined;

  constructor(readonly input: OperationInput) {
    const { plan, kind, id } = input;
    this.plan = plan;
    this.bootLimit = Math.max(1, input.options?.bootConcurrency ?? DEFAULT_BOOT_CONCURRENCY);
    const totalVms = plan.groups.reduce((n, g) => n + g.vms.length, 0);
    const mode = input.options?.childGroups ?? 'auto';
    this.useChildren =
      mode === 'always' ||
      (mode === 'auto' && (plan.groups.length > INLINE_MAX_GROUPS || totalVms > INLINE_MAX_VMS));
    this.byName = new Map(plan.groups.map((g) => [g.name, g]));
    this.progress = {
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
    this.gates = new GateBook(plan.operators, plan.roles, plan.groups);
  }

  get id(): string {
    return this.input.id;
  }

  /** Registers the gates, the progress query, the children's attention, commit and cancellation. */
  install(): void {
    this.gates.install();
    this.gates.onChange = () => this.refresh();
    setHandler(progressQuery, () => this.progress);
    // Who cancelled this operation, as its controller checked it: evidence, like any decision.
    setHandler(cancelDecisionSignal, (record) => {
      if (!this.gates.decisions.some((d) => d.signature === record.signature && d.stepId === record.stepId)) {
        this.gates.decisions.push(record);
      }
    });
    setHandler(attentionSignal, (a) => {
      this.childAttention.set(a.group, { gates: a.gates, pauses: a.pauses });
      this.refresh();
    });
    setHandler(
      commitUpdate,
      (r) => {
        this.commitDecision = r.decision;
        return { decision: r.decision };
      },
      {
        validator: (r) => {
          this.refuseUnlessWaitingCommit();
          if (Object.keys(this.plan.operators).length > 0) {
            throw ApplicationFailure.create({
              type: 'UNSIGNED',
              message: `runbook ${this.plan.runbook.name} names operators: a commit or rollback must be signed by one`,
              nonRetryable: true,
              details: [
                {
                  hint: `lifeboat commit|rollback-failover ${this.plan.runbook.name} --reason "..." --operator <name>`,
                },
              ],
            });
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
    setHandler(
      signedCommitUpdate,
      (d) => {
        // The validator (signature, role, freshness) ran and is skipped on replay; state only here.
        if (this.commitDecision !== undefined) {
          throw ApplicationFailure.nonRetryable(`${this.id} is already decided`, 'NOT_WAITING_COMMIT');
        }
        this.commitDecision = d.payload.decision === 'commit' ? 'commit' : 'rollback';
        // Decided for the whole operation: no group name has parentheses (runbooks/names.ts).
        return this.gates.recordOperatorDecision(d, '(operation)', approverRoles(this.plan));
      },
      {
        validator: (d) => {
          this.refuseUnlessWaitingCommit();
          this.gates.refuseOperatorDecision(
            d,
            {
              stepId: COMMIT_STEP,
              decisions: ['commit', 'rollback-failover'],
              eligible: approverRoles(this.plan),
              since: this.commitOpenedAt ?? 0,
            },
            'commit',
          );
        },
      },
    );
    // Cancellation is turned into a cooperative abort: in-flight actions finish and push their
    // undo, nothing new starts, then the undos run. The work itself is in a non-cancellable scope.
    CancellationScope.current().cancelRequested.catch(() => this.abort('cancelled'));
    this.refresh();
  }

  /** Shows what the whole operation is doing before or around its waves, on every group. */
  stepAll(text: string | undefined): void {
    for (const g of Object.values(this.progress.groups)) g.step = text;
    this.refresh();
  }

  /** Recomputes the visible state (query, search attribute, Temporal UI details). */
  refresh(): void {
    const p = this.progress;
    const attention = [...this.childAttention.values()];
    p.gates = [...this.gates.openGateViews(), ...attention.flatMap((a) => a.gates)];
    p.pauses = [...this.gates.openPauseViews(), ...attention.flatMap((a) => a.pauses)];
    p.decisions = [...this.gates.decisions, ...this.childDecisions];
    if (!isFinal(p.state) && p.state !== 'waiting-commit') {
      p.state = this.abortReason
        ? 'rolling-back'
        : p.pauses.length > 0
          ? 'paused'
          : p.gates.length > 0
            ? 'waiting-approval'
            : 'running';
    }
    if (p.state !== this.lastState) {
      this.lastState = p.state;
      upsertSearchAttributes([{ key: SA.state, value: p.state }]);
    }
    setCurrentDetails(renderDetails(p));
  }

  abort(reason: AbortReason): void {
    this.abortReason ??= reason;
    // Group children stop starting work too; their undos come back in their results.
    // (non-cancellable: after a cancellation request the root scope would cancel the signal itself)
    for (const h of this.children.values()) {
      void CancellationScope.nonCancellable(() => h.signal(abortSignal, { reason })).catch(() => {});
    }
    this.refresh();
  }

  /** Stops the whole operation whatever the group's onFailure says (a drill's isolation breach). */
  fatal(reason: string): void {
    this.progress.error = reason;
    this.abort('rollback');
  }

  private push(c: Compensation): void {
    if (this.stackKeys.has(c.key)) return;
    this.stackKeys.add(c.key);
    this.stack.push(c);
    this.progress.compensations.pending = this.stack.length;
  }

  private limiter(site: string): WorkflowSemaphore {
    const existing = this.limiters.get(site);
    if (existing) return existing;
    const created = new WorkflowSemaphore(this.bootLimit);
    this.limiters.set(site, created);
    return created;
  }

  /** Waves in order, the groups of a wave in parallel, until done or aborted. */
  async runWaves(): Promise<void> {
    for (let w = 0; w < this.plan.waves.length && !this.abortReason; w++) {
      this.progress.wave = w;
      this.refresh();
      const wave = (this.plan.waves[w] ?? []).map((n) => this.byName.get(n) as PlanGroup);
      // Child mode caps the children running at once and gives each a share of the boot limit,
      // so boots across the wave stay within the site's limit.
      const parallel = Math.max(1, Math.min(wave.length, this.bootLimit, MAX_PARALLEL_CHILDREN));
      const share = Math.max(1, Math.floor(this.bootLimit / parallel));
      const slots = new WorkflowSemaphore(parallel);
      await Promise.all(
        wave.map(async (g) => {
          const outcome = this.useChildren ? await this.runChild(g, share, slots) : await this.runInline(g);
          if (outcome === 'rollback') this.abort('rollback');
        }),
      );
    }
  }

  private runInline(g: PlanGroup): Promise<GroupOutcome> {
    return runGroup({
      operationId: this.id,
      runbookName: this.plan.runbook.name,
      ...(this.restore ? { restore: this.restore } : {}),
      recordCheck: (c) => this.checks.push(c),
      recordProbe: (p) => this.probes.push(p),
      fatal: (reason) => this.fatal(reason),
      kind: this.input.kind,
      group: g,
      sites: this.plan.sites,
      drillNetwork: this.plan.drill?.network,
      progress: this.progress.groups[g.name] as GroupProgress,
      gates: this.gates,
      bootLimiter: (site) => this.limiter(site),
      pushCompensation: (c) => this.push(c),
      aborted: () => this.abortReason !== undefined,
      changed: () => this.refresh(),
    });
  }

  private async runChild(g: PlanGroup, share: number, slots: WorkflowSemaphore): Promise<GroupOutcome> {
    const gp = this.progress.groups[g.name] as GroupProgress;
    return slots.with(async () => {
      if (this.abortReason) return 'aborted';
      const workflowId = `${this.id}/group/${g.name}`;
      gp.state = 'running';
      gp.startedAt = Date.now();
      gp.workflowId = workflowId;
      this.refresh();
      const handle = await startChild(groupWorkflow, {
        workflowId,
        args: [
          {
            ...(this.restore ? { restore: this.restore } : {}),
            operationId: this.id,
            parentId: workflowInfo().workflowId,
            kind: this.input.kind,
            group: g,
            sites: this.plan.sites,
            drillNetwork: this.plan.drill?.network,
            operators: this.plan.operators,
            roles: this.plan.roles,
            bootConcurrency: share,
          },
        ],
      });
      this.children.set(g.name, handle);
      const r = await handle.result();
      this.children.delete(g.name);
      this.childAttention.delete(g.name);
      for (const c of r.compensations) this.push(c);
      this.checks.push(...(r.checks ?? []));
      this.probes.push(...(r.probes ?? []));
      if ((r.probes ?? []).some((p) => p.outcome === 'reachable'))
        this.fatal(r.error ?? 'isolation breached');
      this.childDecisions.push(...r.decisions);
      gp.state = r.outcome === 'rollback' || r.outcome === 'aborted' ? 'failed' : r.outcome;
      gp.error = r.error;
      gp.endedAt = Date.now();
      this.refresh();
      return r.outcome;
    });
  }

  private refuseUnlessWaitingCommit(): void {
    if (this.progress.state !== 'waiting-commit' || this.commitDecision !== undefined) {
      throw ApplicationFailure.nonRetryable(`${this.id} is not waiting for a commit`, 'NOT_WAITING_COMMIT');
    }
  }

  /** A failover that came up waits for `commit` within the Plan's window; its timeout decides. */
  async awaitCommit(): Promise<void> {
    const failover = this.plan.failover;
    if (this.abortReason || this.input.kind !== 'failover' || !failover?.commitWithinMs) return;
    this.progress.state = 'waiting-commit';
    this.commitOpenedAt = Date.now();
    this.refresh();
    await this.notifyController({ milestone: 'failed-over-uncommitted' });
    const failed = Object.values(this.progress.groups).filter((g) => g.state === 'continued');
    if (failed.length > 0 && patched(PARTIAL_FAILOVER_WAITS)) {
      // Partial: some groups run at the secondary, some nowhere. Neither timeout outcome is safe
      // to take alone, so an operator decides: commit (continue as it is) or roll back.
      const up = Object.values(this.progress.groups).filter((g) => g.state === 'succeeded');
      const where = this.plan.sites.secondary.name;
      this.progress.placement =
        `partial failover: running at ${where}: ${up.map((g) => g.name).join(', ') || 'none'}; ` +
        `failed, running nowhere: ${failed.map((g) => g.name).join(', ')}. It waits for an operator ` +
        `(no commit timeout): \`lifeboat commit ${this.plan.runbook.name}\` continues as it is, ` +
        `\`lifeboat rollback-failover ${this.plan.runbook.name}\` rolls back`;
      this.refresh();
      await condition(() => this.commitDecision !== undefined || this.abortReason !== undefined);
    }
    const decided = await condition(
      () => this.commitDecision !== undefined || this.abortReason !== undefined,
      failover.commitWithinMs,
    );
    let decision = this.commitDecision ?? (decided ? 'rollback' : failover.onCommitTimeout);
    if (!decided && decision === 'rollback' && this.input.options?.mode === 'disaster') {
      // There is no primary to roll back to (dead or fenced): keep the failover, and say so.
      decision = 'commit';
      this.commitTimeoutKept = true;
    }
    this.progress.state = 'running';
    if (decision === 'rollback') this.abort(this.abortReason ?? 'commit-rollback');
    this.refresh();
  }

  /** A drill always cleans up after itself; anything else undoes only when rolling back. */
  async undo(): Promise<void> {
    if (!this.abortReason && this.input.kind !== 'drill') return;
    await compensate(
      this.id,
      this.stack,
      (done) => {
        this.progress.compensations.done = done;
      },
      this.input.options?.compensationChunk,
    );
  }

  /**
   * Settles the outcome, the groups' final states and the error summary; returns the result.
   * `refused`: the run stopped before anything was built (a drill's preflight); `notes` lead the
   * error summary; `trailing` is listed only when no group failed (a drill's fatal reason).
   */
  finish(opts: { refused?: string; notes?: string[]; trailing?: string } = {}): OperationResult {
    const p = this.progress;
    const groupStates: OperationResult['groups'] = {};
    for (const [name, g] of Object.entries(p.groups)) groupStates[name] = g.state;
    const anyContinued = Object.values(groupStates).includes('continued');
    const outcome: OperationOutcome = opts.refused
      ? 'failed'
      : this.abortReason === 'cancelled'
        ? 'cancelled'
        : this.abortReason
          ? 'rolled-back'
          : anyContinued
            ? 'partial'
            : 'succeeded';
    if (this.abortReason) {
      for (const g of Object.values(p.groups)) if (g.state === 'succeeded') g.state = 'rolled-back';
      for (const [name, g] of Object.entries(p.groups)) groupStates[name] = g.state;
    }
    p.state =
      outcome === 'cancelled'
        ? 'cancelled'
        : outcome === 'rolled-back'
          ? 'rolled-back'
          : outcome === 'failed'
            ? 'failed'
            : 'succeeded';
    p.endedAt = Date.now();
    const failedGroups = Object.values(p.groups).filter((g) => g.error);
    const errors = [
      ...(opts.refused ? [`refused before anything ran: ${opts.refused}`] : []),
      ...(opts.notes ?? []),
      ...failedGroups.map((g) => `${g.name}: ${g.error}`),
      ...(failedGroups.length === 0 && !opts.refused && opts.trailing ? [opts.trailing] : []),
    ];
    p.error = errors.join('; ') || undefined;
    this.refresh();
    return {
      id: this.id,
      kind: this.input.kind,
      outcome,
      groups: groupStates,
      decisions: p.decisions,
      error: p.error,
    };
  }

  async holdPoints(pointId: string): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      await getExternalWorkflowHandle(this.input.controllerId)
        .signal(pointsHeldSignal, { id: this.id, points: [pointId] })
        .catch(() => undefined);
    });
  }

  async notifyController(
    msg:
      | { milestone: 'failed-over-uncommitted' }
      | { milestone: 'fenced'; by: string; reason: string }
      | { finished: OperationResult },
  ): Promise<void> {
    const controller = getExternalWorkflowHandle(this.input.controllerId);
    await CancellationScope.nonCancellable(async () => {
      try {
        if ('milestone' in msg) {
          await controller.signal(operationMilestoneSignal, { id: this.id, ...msg });
        } else {
          const f = msg.finished;
          await controller.signal(operationFinishedSignal, {
            id: this.id,
            outcome: f.outcome,
            error: f.error,
            decisions: f.decisions,
            ...(f.verdict ? { verdict: f.verdict } : {}),
            ...(f.evidencePath ? { evidencePath: f.evidencePath } : {}),
            ...(f.report ? { report: f.report } : {}),
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
