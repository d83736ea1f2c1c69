/**
 * The parts of a failover that surround its waves. Everything checkable at the secondary (point
 * set, capacity, the production network, each VM's point) is checked before any primary VM is
 * touched. A planned failover then shuts the primary's VMs down in reverse dependency order,
 * asks its controller for a final replication cycle, and proves from the committed point, read
 * offline, that the last record each VM wrote before shutdown is in it. The waves then build
 * each VM at the secondary from that point (restore/, the drill's engine). A rollback (before
 * commit) tears them down and starts the primary's VMs again as they were. Workflow code.
 */
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type {
  EnforceFenceResult,
  OrchestratorActivities,
  RestorePreflightResult,
  ShutdownResult,
  SiteActivities,
} from '../activities/index.ts';
import type { FailoverEvidence } from '../reports/evidence.ts';
import { parsePointSelector } from '../restore/point-set.ts';
import type { Plan, PlanGroup } from '../runbooks/plan.ts';
import { recordRestoreEvidence } from './drill.ts';
import { fenceSiteWorkflow, fenceWorkflowId } from './fence.ts';
import { describe, networkName, VM_ACTION_HEARTBEAT_TIMEOUT } from './group-runner.ts';
import { finalCycleDoneSignal, finalCycleSignal } from './messages.ts';
import type { OperationRun } from './operation-run.ts';
import { proxySiteActivities } from './site-proxy.ts';
import type { OperationOutcome, OperationResult } from './types.ts';

/** Patch id: failovers build their VMs at the secondary from recovery points. */
export const FAILOVER_FROM_POINTS = 'failover-from-points';
/** How long a primary VM may take to shut down cleanly before it is forced off (default). */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 120_000;
/** Patch id: a disaster failover's fence is enforced by the primary's own worker (workflows/fence.ts). */
export const FENCE_AT_SITE = 'fence-at-site';
/** Patch id: a failover pauses the runbook's protection Schedules, and a rollback resumes them. */
export const FAILOVER_PAUSES_PROTECTION = 'failover-pauses-protection';
/** How long a disaster failover waits for an answering primary to enforce its fence. */
const FENCE_ANSWER_WITHIN = '20 seconds';
/** A final cycle that has not ended after this long fails the failover (the primary restarts). */
const FINAL_CYCLE_WITHIN = '2 hours';

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

/** A site's activities for a move between sites: heartbeated, a few retries. */
export function site(plan: Plan, role: 'primary' | 'secondary', startToCloseTimeout: string) {
  return proxySiteActivities<SiteActivities>(plan.sites[role].name, {
    startToCloseTimeout,
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 5, initialInterval: '1s', maximumInterval: '10s' },
  });
}

/** The production network's name at the secondary (the runbook maps the role to it). */
export function failoverNetworkName(plan: Plan): string {
  return networkName(plan.sites.secondary, 'production');
}

/** The Plan's groups, wave by wave. */
export function waves(plan: Plan): PlanGroup[][] {
  const byName = new Map(plan.groups.map((g) => [g.name, g]));
  return plan.waves.map((w) => w.map((n) => byName.get(n) as PlanGroup));
}

/**
 * Shuts the VMs at `role` down in reverse dependency order (the last wave, the front ends,
 * first; a wave's VMs at once), each by guest agent, ACPI, then forced after the deadline; what
 * each took goes into `into`. Returns why it stopped at a VM that would not shut down, or nothing.
 */
export async function shutDownInReverseOrder(
  run: OperationRun,
  role: 'primary' | 'secondary',
  into: ShutdownResult[],
): Promise<string | undefined> {
  const deadlineMs = run.input.options?.shutdownDeadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
  const at = site(run.plan, role, `${Math.ceil(deadlineMs / 1000) + 120} seconds`);
  for (const wave of [...waves(run.plan)].reverse()) {
    run.stepAll(`shutting down at the ${role}: ${wave.map((g) => g.name).join(', ')}`);
    const vms = wave.flatMap((g) => g.vms.map((v) => v.name));
    const results = await Promise.allSettled(
      vms.map((vm) => at.failoverShutdown({ operationId: run.id, vm, deadlineMs })),
    );
    for (const r of results) if (r.status === 'fulfilled') into.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) return `shutting down at the ${role}: ${describe(failed.reason)}`;
  }
  return undefined;
}

export class FailoverRestore {
  preflight: RestorePreflightResult | undefined;
  refused: string | undefined;
  readonly mode: 'planned' | 'disaster';
  readonly shutdowns: ShutdownResult[] = [];
  readonly dataProof: FailoverEvidence['dataProof'] = [];
  readonly restarted: FailoverEvidence['primaryRestarted'] = [];
  private finalCycle: { cycleId: string; outcome: OperationOutcome; error?: string } | undefined;
  private preflightEndedAt: number | undefined;
  private healthyAt: number | undefined;
  private shutdownStartedAt: number | undefined;
  private primaryTouched = false;
  private fence: NonNullable<FailoverEvidence['fence']> | undefined;
  /** The fence workflow enforcing at the primary, and what it did once it did. */
  private fenceId: string | undefined;
  private enforced: EnforceFenceResult | undefined;
  /** The protection Schedules this failover paused (a rollback resumes those), and resumed. */
  private protection: NonNullable<FailoverEvidence['protection']> | undefined;

  constructor(private readonly run: OperationRun) {
    this.mode = run.input.options?.mode ?? 'planned';
    setHandler(finalCycleDoneSignal, (d) => {
      this.finalCycle ??= d;
    });
  }

  private refuse(reason: string): void {
    this.refused = reason;
    this.run.abort('rollback');
  }

  private async choose(selector: string): Promise<RestorePreflightResult | undefined> {
    const { plan } = this.run;
    const s = parsePointSelector(selector);
    if (!s.ok) {
      this.refuse(`${s.message} (${s.hint})`);
      return undefined;
    }
    try {
      return await site(plan, 'secondary', '30 minutes').restorePreflight({
        operationId: this.run.id,
        purpose: 'failover',
        runbook: plan.runbook.name,
        vms: plan.groups.flatMap((g) => g.vms.map((v) => v.name)),
        selector: s.selector,
        network: failoverNetworkName(plan),
        digests: false,
      });
    } catch (err) {
      this.refuse(`at the secondary, before any primary VM was touched: ${describe(err)}`);
      return undefined;
    }
  }

  /** Everything before the waves; on any refusal the run is aborted (and the primary restarted). */
  async prepare(): Promise<void> {
    const { run } = this;
    this.run.stepAll('preflight at the secondary');
    const first = await this.choose(run.input.options?.point ?? 'latest');
    this.preflightEndedAt = Date.now();
    if (!first) return;
    if (patched(FAILOVER_PAUSES_PROTECTION)) await this.pauseProtection();
    let chosen = first;
    if (this.mode === 'disaster') await this.fencePrimary();
    if (this.mode === 'planned') {
      const final = await this.planned();
      if (!final) return;
      chosen = final;
    }
    this.preflight = chosen;
    run.restore = {
      pointId: chosen.pointId,
      // Records written before the VMs are built are the point's: none may follow its last one.
      startedAtMs: Date.now(),
      vms: Object.fromEntries(chosen.points.map((pt) => [pt.vm, { domain: pt.domain, records: pt.records }])),
    };
    await run.holdPoints(chosen.pointId);
    this.run.stepAll(undefined);
  }

  /** Shut down, final cycle, proof of no loss; the final point's preflight, or undefined. */
  private async planned(): Promise<RestorePreflightResult | undefined> {
    const { run } = this;
    const { plan } = run;
    const deadlineMs = run.input.options?.shutdownDeadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
    const primary = site(plan, 'primary', `${Math.ceil(deadlineMs / 1000) + 120} seconds`);
    this.shutdownStartedAt = Date.now();
    this.primaryTouched = true;
    const stopped = await shutDownInReverseOrder(run, 'primary', this.shutdowns);
    if (stopped !== undefined) {
      this.refuse(stopped);
      return undefined;
    }

    if (run.abortReason) return undefined; // cancelled while shutting down: restart, build nothing
    this.run.stepAll('reading the last workload records at the primary');
    const vms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
    const before: Record<string, Awaited<ReturnType<SiteActivities['readWorkloadRecords']>>> = {};
    try {
      for (const vm of vms) before[vm] = await primary.readWorkloadRecords({ vm });
    } catch (err) {
      this.refuse(`reading the workload records at the primary: ${describe(err)}`);
      return undefined;
    }

    if (run.abortReason) return undefined;
    this.run.stepAll('final replication cycle');
    await CancellationScope.nonCancellable(() =>
      getExternalWorkflowHandle(run.input.controllerId).signal(finalCycleSignal, { id: run.id, plan }),
    ).catch(() => undefined);
    const ended = await condition(() => this.finalCycle !== undefined, FINAL_CYCLE_WITHIN);
    const cycle = this.finalCycle;
    if (!ended || !cycle) {
      this.refuse('the final replication cycle did not end in time');
      return undefined;
    }
    if (cycle.outcome !== 'succeeded') {
      this.refuse(`the final replication cycle ${cycle.cycleId} ${cycle.outcome}: ${cycle.error ?? ''}`);
      return undefined;
    }
    const n = /\/(\d+)$/.exec(cycle.cycleId)?.[1] ?? '';
    const final = await this.choose('latest');
    if (!final) return undefined;
    if (!final.pointId.endsWith(`-${n}`)) {
      this.refuse(`the newest point set ${final.pointId} is not the final cycle's (${cycle.cycleId})`);
      return undefined;
    }

    this.run.stepAll(`proving the final point ${final.pointId} holds every record`);
    const secondary = site(plan, 'secondary', '30 minutes');
    try {
      for (const vm of vms) {
        const after = await secondary.readWorkloadRecords({ vm, pointId: final.pointId });
        for (const d of before[vm]?.disks ?? []) {
          if (d.seq === 0) continue;
          const inPoint = after.disks.find((x) => x.target === d.target);
          const pointSeq = inPoint?.seq ?? 0;
          const same = pointSeq === d.seq && inPoint?.crc === d.crc;
          this.dataProof.push({
            vm,
            target: d.target,
            primarySeq: d.seq,
            pointSeq,
            lost: Math.max(0, d.seq - pointSeq),
            identical: same,
          });
        }
      }
    } catch (err) {
      this.refuse(`reading the final point offline: ${describe(err)}`);
      return undefined;
    }
    const bad = this.dataProof.filter((p) => !p.identical);
    if (bad.length > 0) {
      this.refuse(
        `the final point does not hold the last records written at the primary: ${bad
          .map((b) => `${b.vm}/${b.target} primary seq ${b.primarySeq}, point seq ${b.pointSeq}`)
          .join('; ')}`,
      );
      return undefined;
    }
    return final;
  }

  /**
   * A disaster failover fences the primary before anything starts at the secondary: the fence
   * (who, why) is recorded in the controller, then each primary VM is forced off if the primary
   * still answers. A primary that does not answer is left as it is (its worker would have to
   * stop them when it reconnects: not built yet), and the evidence says so.
   */
  private async fencePrimary(): Promise<void> {
    const { run } = this;
    const by = run.input.requestedBy ?? 'unknown';
    const reason = `disaster failover ${run.id}`;
    await run.notifyController({ milestone: 'fenced', by, reason });
    this.run.stepAll('fencing the primary');
    if (patched(FENCE_AT_SITE)) {
      await this.fenceAtSite(by, reason);
      return;
    }
    const primary = proxySiteActivities<SiteActivities>(run.plan.sites.primary.name, {
      startToCloseTimeout: '2 minutes',
      // A dead or cut-off primary costs the RTO this long, once (later waves are not tried).
      scheduleToStartTimeout: '10 seconds',
      heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
      retry: { maximumAttempts: 2, initialInterval: '1s' },
    });
    // Reverse dependency order, as a planned shutdown; once the primary does not answer, the
    // later waves are not tried (each try would wait out the site's schedule-to-start limit).
    const unreachable: string[] = [];
    let answered = false;
    for (const wave of [...waves(run.plan)].reverse()) {
      const vms = wave.flatMap((g) => g.vms.map((v) => v.name));
      if (unreachable.length > 0 && !answered) {
        unreachable.push(...vms.map((vm) => `${vm}: not tried`));
        continue;
      }
      const results = await Promise.allSettled(
        vms.map((vm) => primary.failoverShutdown({ operationId: run.id, vm, deadlineMs: 5_000 })),
      );
      for (const [i, r] of results.entries()) {
        if (r.status === 'fulfilled') {
          this.shutdowns.push(r.value);
          answered = true;
        } else unreachable.push(`${vms[i]}: ${describe(r.reason)}`);
      }
    }
    this.primaryTouched = this.shutdowns.some((s) => s.wasRunning);
    this.fence = {
      by,
      reason,
      at: new Date().toISOString(),
      primaryAnswered: answered,
      detail:
        unreachable.length === 0
          ? `every VM of the runbook is off at the primary (${this.shutdowns.map((s) => `${s.vm}: ${s.method}`).join(', ')})`
          : `not stopped at the primary (it did not answer): ${unreachable.join('; ')}; the fence in the controller stands`,
    };
  }

  /**
   * The fence goes to the primary's own worker (fenceSiteWorkflow), with no limit on how long it
   * waits to be picked up: an answering primary enforces it now (its VMs forced off, autostart
   * off, the site's fence record written), a dead or cut-off one when its worker is back. The
   * failover waits for it at most FENCE_ANSWER_WITHIN, once; a later enforcement still lands in
   * the evidence if it comes before the failover ends, and in the controller's state always.
   */
  private async fenceAtSite(by: string, reason: string): Promise<void> {
    const { run } = this;
    const { plan } = run;
    const at = new Date().toISOString();
    const child = await startChild(fenceSiteWorkflow, {
      workflowId: fenceWorkflowId(run.id),
      // It outlives the failover: a primary that comes back after the commit still obeys.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [
        {
          runbook: plan.runbook.name,
          // Reverse dependency order, as a planned shutdown: the front ends stop first.
          vms: [...waves(plan)].reverse().flatMap((w) => w.flatMap((g) => g.vms.map((v) => v.name))),
          operationId: run.id,
          by,
          reason,
          at,
          site: plan.sites.primary.name,
          controllerId: run.input.controllerId,
        },
      ],
    });
    this.fenceId = child.workflowId;
    void child.result().then(
      (r) => this.onEnforced(r),
      () => undefined,
    );
    const answered = await condition(() => this.enforced !== undefined, FENCE_ANSWER_WITHIN);
    this.fence = {
      by,
      reason,
      at,
      primaryAnswered: answered,
      detail: answered
        ? this.enforcedDetail()
        : `the primary did not answer within ${FENCE_ANSWER_WITHIN}; its worker enforces the fence (${this.fenceId}) when it is back`,
    };
  }

  private onEnforced(r: EnforceFenceResult): void {
    this.enforced = r;
    for (const v of r.vms) {
      this.shutdowns.push({
        vm: v.vm,
        wasRunning: v.wasRunning,
        method: v.wasRunning ? 'forced' : 'already-off',
        at: r.enforcedAt,
      });
    }
    if (r.vms.some((v) => v.wasRunning)) this.primaryTouched = true;
    if (this.fence) this.fence = { ...this.fence, detail: this.enforcedDetail() };
  }

  private enforcedDetail(): string {
    const r = this.enforced;
    if (!r) return '';
    return `enforced at site ${r.site} by its worker at ${r.enforcedAt}: ${r.vms.map((v) => `${v.vm} ${v.detail}`).join(', ')}`;
  }

  /**
   * Records lost in a disaster: what the primary's disks hold (read offline by its worker once
   * the fence stopped the VMs) past what the restored point holds. Exact: both are the workload's
   * last sequence number on each data disk.
   */
  private disasterLoss(): FailoverEvidence['dataProof'] {
    const r = this.enforced;
    if (!r || !this.preflight) return [];
    const out: FailoverEvidence['dataProof'] = [];
    for (const v of r.vms) {
      const point = this.preflight.points.find((p) => p.vm === v.vm);
      for (const d of v.disks) {
        const rec = point?.records.find((x) => x.target === d.target);
        const pointSeq = rec?.seq ?? 0;
        out.push({
          vm: v.vm,
          target: d.target,
          primarySeq: d.seq,
          pointSeq,
          lost: Math.max(0, d.seq - pointSeq),
          identical: pointSeq === d.seq && rec?.crc === d.crc,
        });
      }
    }
    return out;
  }

  /**
   * The time the lost records span: from the point's last record to the primary's last one (the
   * workload stamps each record), the longest over the data disks.
   */
  private lossWindow(): { lossWindowMs?: number } {
    let worst: number | undefined;
    for (const v of this.enforced?.vms ?? []) {
      const point = this.preflight?.points.find((p) => p.vm === v.vm);
      for (const d of v.disks) {
        const rec = point?.records.find((x) => x.target === d.target);
        if (d.timestampMs === undefined || rec === undefined) continue;
        const w = Math.max(0, d.timestampMs - rec.timestampMs);
        worst = Math.max(worst ?? 0, w);
      }
    }
    return worst === undefined ? {} : { lossWindowMs: worst };
  }

  /**
   * A rolled-back disaster failover lifts the fence it set at the primary (before the primary's
   * VMs start again), or, when the primary never enforced it, withdraws the request.
   */
  private async liftOwnFence(): Promise<void> {
    const { run } = this;
    if (!this.fenceId) return;
    if (!this.enforced) {
      await getExternalWorkflowHandle(this.fenceId)
        .cancel()
        .catch(() => undefined);
      return;
    }
    const primary = proxySiteActivities<SiteActivities>(run.plan.sites.primary.name, {
      startToCloseTimeout: '1 minute',
      scheduleToStartTimeout: '10 seconds',
      retry: { maximumAttempts: 3, initialInterval: '1s' },
    });
    try {
      await primary.liftFence({
        runbook: run.plan.runbook.name,
        operationId: run.id,
        by: run.input.requestedBy ?? 'unknown',
        reason: `${run.id} rolled back`,
      });
    } catch (err) {
      run.progress.error = [run.progress.error, `fence not lifted at the primary: ${describe(err)}`]
        .filter(Boolean)
        .join('; ');
    }
  }

  /**
   * Protection stops while the failover owns the runbook: a Schedule's cycle would copy the
   * primary's disks over the points the failover restores. A committed failover leaves it paused
   * (the note says why, `status` shows it) until reprotect; a rollback resumes what it paused.
   */
  private async pauseProtection(): Promise<void> {
    const { run } = this;
    try {
      const paused = await orchestrator.setProtectionPaused({
        runbook: run.plan.runbook.name,
        paused: true,
        reason: `paused by ${run.id}: a failover owns the runbook; replication resumes after failback (or a rollback)`,
      });
      this.protection = { paused };
    } catch (err) {
      this.protection = { paused: [], error: `protection not paused: ${describe(err)}` };
    }
  }

  private async resumeProtection(): Promise<void> {
    const p = this.protection;
    if (!p || p.paused.length === 0) return;
    try {
      p.resumed = await orchestrator.setProtectionPaused({
        runbook: this.run.plan.runbook.name,
        paused: false,
        reason: `resumed: ${this.run.id} rolled back`,
        onlyIfPausedBy: this.run.id,
      });
    } catch (err) {
      p.error = `protection not resumed: ${describe(err)}`;
    }
  }

  /** Every group came up and passed its checks: the RTO is measured to here. */
  healthy(): void {
    if (!this.run.abortReason && !this.refused) this.healthyAt = Date.now();
  }

  /**
   * After a rollback's undo (the secondary's VMs are gone): the primary's VMs that were running
   * start again, in dependency order. Never when the primary was not touched (a disaster).
   */
  async restartPrimary(): Promise<void> {
    const { run } = this;
    if (!run.abortReason) return;
    await this.liftOwnFence();
    await this.resumeProtection();
    if (!this.primaryTouched) return;
    const running = new Set(this.shutdowns.filter((s) => s.wasRunning).map((s) => s.vm));
    const primary = site(run.plan, 'primary', '10 minutes');
    for (const wave of waves(run.plan)) {
      const vms = wave.flatMap((g) => g.vms.map((v) => v.name)).filter((vm) => running.has(vm));
      await Promise.all(
        vms.map(async (vm) => {
          try {
            const r = await primary.vmAction({ operationId: run.id, action: 'startVm', vm });
            this.restarted.push({ vm, ok: true, detail: r.detail, at: new Date().toISOString() });
          } catch (err) {
            this.restarted.push({ vm, ok: false, detail: describe(err), at: new Date().toISOString() });
          }
        }),
      );
    }
    const failed = this.restarted.filter((r) => !r.ok);
    if (failed.length > 0) {
      run.progress.error = [
        run.progress.error,
        `primary not restarted: ${failed.map((f) => `${f.vm} (${f.detail})`).join(', ')}`,
      ]
        .filter(Boolean)
        .join('; ');
    }
  }

  finish(): OperationResult {
    const { run } = this;
    // Stopped before the primary was touched: refused. After: rolled back (the primary restarted).
    const refusedEarly = this.refused !== undefined && !this.primaryTouched;
    return run.finish({
      ...(refusedEarly ? { refused: this.refused } : {}),
      notes: this.refused && !refusedEarly ? [this.refused] : [],
      ...(run.progress.error ? { trailing: run.progress.error } : {}),
    });
  }

  evidence(): FailoverEvidence {
    const firstStop = this.shutdowns.map((s) => Date.parse(s.at));
    const proof = this.mode === 'disaster' && this.enforced ? this.disasterLoss() : this.dataProof;
    return {
      mode: this.mode,
      shutdown: this.shutdowns.map((s) => ({
        vm: s.vm,
        method: s.method,
        wasRunning: s.wasRunning,
        at: s.at,
      })),
      ...(this.shutdownStartedAt !== undefined && this.healthyAt !== undefined
        ? { downtimeMs: this.healthyAt - this.shutdownStartedAt }
        : {}),
      ...(this.finalCycle ? { finalCycle: this.finalCycle } : {}),
      dataProof: proof,
      recordsLost: proof.reduce((n, p) => n + p.lost, 0),
      ...(this.mode === 'disaster' && this.enforced ? this.lossWindow() : {}),
      ...(this.mode === 'disaster'
        ? {
            recordsLostFrom: this.enforced
              ? "the primary's data disks, read offline by its worker after the fence stopped the VMs"
              : 'not counted: the primary had not enforced the fence when the failover ended',
          }
        : {}),
      primaryRestarted: this.restarted,
      ...(this.fence
        ? {
            fence: {
              ...this.fence,
              ...(this.enforced
                ? {
                    enforced: {
                      at: this.enforced.enforcedAt,
                      site: this.enforced.site,
                      vms: this.enforced.vms.map((v) => ({ vm: v.vm, detail: v.detail })),
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(this.run.commitTimeoutKept ? { commitTimeoutKept: true } : {}),
      ...(this.protection ? { protection: this.protection } : {}),
      ...(firstStop.length > 0 ? { firstStopAt: new Date(Math.min(...firstStop)).toISOString() } : {}),
    };
  }

  async record(result: OperationResult): Promise<void> {
    const { run } = this;
    await recordRestoreEvidence(run, result, {
      selector: this.mode === 'planned' ? 'final cycle' : (run.input.options?.point ?? 'latest'),
      network: failoverNetworkName(run.plan),
      ...(this.preflight ? { preflight: this.preflight } : {}),
      ...(this.refused ? { preflightError: this.refused } : {}),
      ...(this.preflightEndedAt !== undefined ? { preflightEndedAt: this.preflightEndedAt } : {}),
      ...(this.healthyAt !== undefined ? { healthyAt: this.healthyAt } : {}),
      failover: this.evidence(),
    });
  }
}
