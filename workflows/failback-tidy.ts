/**
 * What a committed failback leaves to tidy, and the figures its evidence needs after the move:
 * the secondary's stopped failover VMs and their overlays removed (the next failover must not
 * find them), the `lb-reprotect-*` bitmaps removed from the primary's disks (protection runs
 * home-to-away again), the protection Schedules the failover paused resumed, and the records the
 * secondary wrote since the common point counted. A failure here does not undo the failback:
 * production runs at home; the evidence says what is left. Workflow code.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { FailbackActivities } from '../activities/failback.ts';
import type { OrchestratorActivities } from '../activities/index.ts';
import type { FailbackEvidence } from '../reports/evidence.ts';
import { site, waves } from './failover.ts';
import { describe, VM_ACTION_HEARTBEAT_TIMEOUT } from './group-runner.ts';
import type { OperationRun } from './operation-run.ts';
import type { ReprotectVmResult } from './reprotect.ts';
import { proxySiteActivities } from './site-proxy.ts';

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

function tidyAt(run: OperationRun, role: 'primary' | 'secondary') {
  return proxySiteActivities<FailbackActivities>(run.plan.sites[role].name, {
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 5, initialInterval: '1s', maximumInterval: '10s' },
  });
}

/** Patch id: the failback's tidy-up deletes the reverse Schedule a reprotect started. */
export const FAILBACK_STOPS_REVERSE = 'failback-stops-reverse';

export class FailbackTidy {
  ran = false;
  /** Whether a reverse Schedule was there and deleted (undefined: not asked). */
  reverseStopped: boolean | undefined;
  recordsMoved: number | undefined;
  private readonly cleanup: NonNullable<FailbackEvidence['cleanup']> = [];
  private readonly bitmaps: NonNullable<FailbackEvidence['bitmapsRemoved']> = [];
  private resumed: string[] | undefined;
  private readonly errors: string[] = [];

  constructor(private readonly run: OperationRun) {}

  async removeLeftovers(): Promise<void> {
    const { run } = this;
    this.ran = true;
    run.stepAll('cleaning up: the secondary’s failover VMs, the reprotect bitmaps');
    const secondary = tidyAt(run, 'secondary');
    const primary = tidyAt(run, 'primary');
    const vms = [...waves(run.plan)].reverse().flatMap((w) => w.flatMap((g) => g.vms.map((v) => v.name)));
    for (const vm of vms) {
      try {
        const r = await secondary.failbackRemoveFailoverVm({
          operationId: run.id,
          runbook: run.plan.runbook.name,
          vm,
        });
        this.cleanup.push({ vm, site: r.site, removed: r.removed, detail: r.detail });
      } catch (err) {
        this.errors.push(`${vm} at the secondary: ${describe(err)}`);
      }
      try {
        const r = await primary.failbackDropReprotectBitmaps({ vm });
        for (const b of r.removed) this.bitmaps.push({ vm, target: b.target, bitmap: b.bitmap });
      } catch (err) {
        this.errors.push(`${vm}'s reprotect bitmaps at the primary: ${describe(err)}`);
      }
    }
    if (patched(FAILBACK_STOPS_REVERSE)) {
      try {
        this.reverseStopped = await orchestrator.stopReverseProtection({ runbook: run.plan.runbook.name });
      } catch (err) {
        this.errors.push(`reverse protection not stopped: ${describe(err)}`);
      }
    }
    try {
      // Only what a failover paused: a Schedule an operator paused by hand stays paused.
      this.resumed = await orchestrator.setProtectionPaused({
        runbook: run.plan.runbook.name,
        paused: false,
        reason: `resumed by ${run.id}: production is back at the primary`,
        onlyIfPausedBy: `runbook/${run.plan.runbook.name}/failover/`,
      });
    } catch (err) {
      this.errors.push(`protection not resumed: ${describe(err)}`);
    }
    run.stepAll(undefined);
  }

  /**
   * Records the secondary wrote since the common point: its last record on each data disk less
   * the point's, the point read offline at the secondary. Left uncounted if it cannot be read.
   */
  async countMoved(
    reprotects: readonly ReprotectVmResult[],
    proof: ReadonlyArray<{ vm: string; target: string; secondarySeq: number }>,
  ): Promise<void> {
    if (reprotects.length === 0 || proof.length === 0) return;
    const reader = site(this.run.plan, 'secondary', '10 minutes');
    let moved = 0;
    try {
      for (const r of reprotects) {
        if (r.pointId === null) return;
        const point = await reader.readWorkloadRecords({ vm: r.vm, pointId: r.pointId });
        for (const p of proof.filter((x) => x.vm === r.vm)) {
          const at = point.disks.find((d) => d.target === p.target)?.seq ?? 0;
          moved += Math.max(0, p.secondarySeq - at);
        }
      }
    } catch {
      return;
    }
    this.recordsMoved = moved;
  }

  facts(): Pick<FailbackEvidence, 'cleanup' | 'bitmapsRemoved' | 'cleanupError' | 'protectionResumed'> {
    return {
      cleanup: this.cleanup,
      bitmapsRemoved: this.bitmaps,
      ...(this.errors.length > 0 ? { cleanupError: this.errors.join('; ') } : {}),
      ...(this.resumed ? { protectionResumed: this.resumed } : {}),
    };
  }
}
