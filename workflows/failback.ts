/**
 * The parts of a failback that surround its waves (`patched('failback-final-reprotect')`): the
 * VMs running at the secondary shut down in reverse dependency order, a final reprotect ships
 * what they wrote since the last one into the primary's disks (workflows/reprotect.ts, the VMs
 * stopped: exact), and the last workload record of every data disk, read offline at both sites,
 * must match before anything starts at the primary. The waves then start the VMs at the primary
 * in dependency order. A refusal (or a rollback) starts the secondary's VMs again. Workflow code.
 */
import { patched, workflowInfo } from '@temporalio/workflow';
import type { LiftFenceResult, ShutdownResult } from '../activities/index.ts';
import type { FailbackEvidence } from '../reports/evidence.ts';
import { recordInto } from './drill.ts';
import { buildEvidence } from './evidence.ts';
import { FailbackTidy } from './failback-tidy.ts';
import { shutDownInReverseOrder, site, waves } from './failover.ts';
import { describe, networkName } from './group-runner.ts';
import type { OperationRun } from './operation-run.ts';
import { type ReprotectVmResult, reprotectVm } from './reprotect.ts';
import type { OperationResult } from './types.ts';

/** Patch id: a failback shuts the secondary down, ships a final reprotect and proves no loss. */
export const FAILBACK_FINAL_REPROTECT = 'failback-final-reprotect';
/** Patch id: a failback lifts the primary's own fence record before the waves start its VMs. */
export const FAILBACK_LIFTS_FENCE = 'failback-lifts-fence';
/**
 * Patch id: a committed failback removes the secondary's failover VMs and the reprotect bitmaps,
 * resumes protection, and ends with an evidence record of type `failback`.
 */
export const FAILBACK_EVIDENCE = 'failback-evidence';

export interface FailbackProof {
  vm: string;
  target: string;
  secondarySeq: number;
  primarySeq: number;
  identical: boolean;
}

export class FailbackMove {
  refused: string | undefined;
  readonly shutdowns: ShutdownResult[] = [];
  readonly proof: FailbackProof[] = [];
  readonly finalReprotect: ReprotectVmResult[] = [];
  /** The primary's fence, lifted by this failback (a disaster failover's), or nothing to lift. */
  fenceLifted: LiftFenceResult | undefined;
  private secondaryTouched = false;
  private shutdownStartedAt: number | undefined;
  private healthyAt: number | undefined;
  private readonly restarted: string[] = [];
  /** Set once the evidence patch is known to apply (decided where the cleanup would run). */
  private tidy: FailbackTidy | undefined;

  constructor(private readonly run: OperationRun) {}

  private refuse(reason: string): void {
    this.refused = reason;
    this.run.abort('rollback');
  }

  async prepare(): Promise<void> {
    const { run } = this;
    const { plan } = run;
    this.secondaryTouched = true;
    this.shutdownStartedAt = Date.now();
    const stopped = await shutDownInReverseOrder(run, 'secondary', this.shutdowns);
    if (stopped !== undefined) return this.refuse(stopped);
    if (run.abortReason) return;
    const vms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
    this.run.stepAll('final reprotect toward the primary');
    try {
      for (const vm of vms) {
        this.finalReprotect.push(
          await reprotectVm({ id: run.id, plan, controllerId: run.input.controllerId }, vm),
        );
      }
    } catch (err) {
      return this.refuse(`the final reprotect: ${describe(err)}`);
    }
    this.run.stepAll('proving the primary holds every record written at the secondary');
    const primary = site(plan, 'primary', '30 minutes');
    const reader = site(plan, 'secondary', '30 minutes');
    try {
      for (const vm of vms) {
        const at = await reader.readWorkloadRecords({ vm });
        const home = await primary.readWorkloadRecords({ vm });
        for (const d of at.disks) {
          if (d.seq === 0) continue;
          const p = home.disks.find((x) => x.target === d.target);
          this.proof.push({
            vm,
            target: d.target,
            secondarySeq: d.seq,
            primarySeq: p?.seq ?? 0,
            identical: p?.seq === d.seq && p?.crc === d.crc,
          });
        }
      }
    } catch (err) {
      return this.refuse(`reading the workload records: ${describe(err)}`);
    }
    const bad = this.proof.filter((p) => !p.identical);
    if (bad.length > 0) {
      return this.refuse(
        `the primary does not hold the last records written at the secondary: ${bad
          .map((b) => `${b.vm}/${b.target} secondary seq ${b.secondarySeq}, primary seq ${b.primarySeq}`)
          .join('; ')}`,
      );
    }
    // A disaster failover fenced the primary at its own site (its driver refuses to start the
    // VMs): production comes home now, so the fence is lifted there, with who and why, before
    // the waves start anything. A primary that was never fenced has nothing to lift.
    if (patched(FAILBACK_LIFTS_FENCE)) {
      this.run.stepAll("lifting the primary's fence");
      try {
        this.fenceLifted = await primary.liftFence({
          runbook: plan.runbook.name,
          operationId: run.id,
          by: run.input.requestedBy ?? run.id,
          reason: `failback ${run.id}: production returns to the primary`,
        });
      } catch (err) {
        return this.refuse(`lifting the primary's fence: ${describe(err)}`);
      }
    }
    this.run.stepAll(undefined);
  }

  /** After a rollback's undo: the secondary's VMs that were running start again, in order. */
  async restartSecondary(): Promise<void> {
    const { run } = this;
    if (!run.abortReason || !this.secondaryTouched) return;
    const running = new Set(this.shutdowns.filter((s) => s.wasRunning).map((s) => s.vm));
    const secondary = site(run.plan, 'secondary', '10 minutes');
    for (const wave of waves(run.plan)) {
      const vms = wave.flatMap((g) => g.vms.map((v) => v.name)).filter((vm) => running.has(vm));
      await Promise.all(
        vms.map((vm) =>
          secondary.vmAction({ operationId: run.id, action: 'startVm', vm }).then(
            () => {
              this.restarted.push(vm);
            },
            (err: unknown) => {
              run.progress.error = [run.progress.error, `secondary not restarted: ${vm} (${describe(err)})`]
                .filter(Boolean)
                .join('; ');
            },
          ),
        ),
      );
    }
  }

  /** Every group came up and passed its checks at the primary: the downtime ends here. */
  healthy(): void {
    if (!this.run.abortReason && !this.refused) this.healthyAt = Date.now();
  }

  /**
   * A committed failback (every group up at the primary) removes what the move left behind:
   * the secondary's stopped failover VMs and overlays, the reprotect bitmaps on the primary's
   * disks; and resumes the protection Schedules the failover paused (workflows/failback-tidy.ts).
   */
  async cleanUp(): Promise<void> {
    if (!patched(FAILBACK_EVIDENCE)) return;
    this.tidy = new FailbackTidy(this.run);
    const allUp = Object.values(this.run.progress.groups).every((g) => g.state === 'succeeded');
    if (this.run.abortReason || this.refused || !allUp) return;
    await this.tidy.removeLeftovers();
  }

  evidence(): FailbackEvidence {
    const stops = this.shutdowns.map((s) => Date.parse(s.at));
    const proof = this.proof.map((p) => ({
      vm: p.vm,
      target: p.target,
      secondarySeq: p.secondarySeq,
      primarySeq: p.primarySeq,
      lost: Math.max(0, p.secondarySeq - p.primarySeq),
      identical: p.identical,
    }));
    const lifted = this.fenceLifted;
    const tidy = this.tidy;
    return {
      shutdown: this.shutdowns.map((s) => ({
        vm: s.vm,
        method: s.method,
        wasRunning: s.wasRunning,
        at: s.at,
      })),
      ...(stops.length > 0 ? { firstStopAt: new Date(Math.min(...stops)).toISOString() } : {}),
      ...(this.shutdownStartedAt !== undefined && this.healthyAt !== undefined
        ? { downtimeMs: this.healthyAt - this.shutdownStartedAt }
        : {}),
      finalReprotect: this.finalReprotect.map((r) => ({
        vm: r.vm,
        pointId: r.pointId,
        deltaBytes: r.deltaBytes,
        bytesReceived: r.bytesReceived,
        divergentBytes: r.divergentBytes,
        ...(r.fullReason === undefined ? {} : { fullReason: r.fullReason }),
        ...(r.since === undefined ? {} : { since: r.since }),
      })),
      dataProof: proof,
      recordsLost: proof.reduce((n, p) => n + p.lost, 0),
      ...(tidy?.recordsMoved === undefined ? {} : { recordsMoved: tidy.recordsMoved }),
      boots: bootsSeen(this.run),
      ...(lifted
        ? {
            fenceLifted: {
              lifted: lifted.lifted,
              ...(lifted.fencedBy === undefined ? {} : { fencedBy: lifted.fencedBy }),
              at: lifted.at,
            },
          }
        : {}),
      ...(tidy?.ran ? tidy.facts() : {}),
      ...(this.restarted.length > 0 ? { secondaryRestarted: [...this.restarted] } : {}),
    };
  }

  /** The evidence record (type `failback`), signed and chained like the others. */
  async record(result: OperationResult): Promise<void> {
    const { run } = this;
    if (!this.tidy) return; // started before the evidence patch: it records none
    if (!this.refused) await this.tidy.countMoved(this.finalReprotect, this.proof);
    const info = workflowInfo();
    const evidence = buildEvidence({
      plan: run.plan,
      progress: run.progress,
      outcome: result.outcome,
      temporal: { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId },
      startedBy: run.input.requestedBy ?? 'unknown',
      selector: 'final reprotect',
      targetSite: run.plan.sites.primary.name,
      network: networkName(run.plan.sites.primary, 'production'),
      checks: run.checks,
      probes: run.probes,
      ...(run.progress.error ? { error: run.progress.error } : {}),
      ...(this.healthyAt !== undefined ? { healthyAt: this.healthyAt } : {}),
      failback: this.evidence(),
    });
    await recordInto(result, evidence);
  }

  finish(): OperationResult {
    const { run } = this;
    return run.finish({
      notes: [
        ...(this.refused ? [this.refused] : []),
        ...(this.fenceLifted?.lifted
          ? [
              `the primary's fence (${this.fenceLifted.fencedBy ?? 'a disaster failover'}) lifted at ${this.fenceLifted.at}`,
            ]
          : []),
      ],
      ...(run.progress.error ? { trailing: run.progress.error } : {}),
    });
  }
}

/** Each VM's boot counter as its ready line at the primary showed it (`... boots=<n> ...`). */
function bootsSeen(run: OperationRun): FailbackEvidence['boots'] {
  const out = new Map<string, FailbackEvidence['boots'][number]>();
  for (const c of run.checks) {
    const m = c.outcome === 'passed' ? /\bboots=(\d+)\b/.exec(c.output) : null;
    if (m) out.set(c.vm, { vm: c.vm, boots: Number(m[1]), line: c.output.slice(0, 300) });
  }
  return [...out.values()];
}
