/**
 * Reprotect: after a committed failover the VMs run at the secondary and nothing protects them.
 * This makes the old primary's disks equal to the secondary's by shipping only what differs
 * since the common point (the point the failover built from): the blocks the secondary wrote
 * since (its overlays' own clusters) united with the blocks the old primary wrote after the point
 * (its bitmaps since the point's checkpoint, or block digests against the point's when they are
 * gone), which are saved in a side file first. A full copy only when there is no common point,
 * saying why. VM by VM; each step resumes from the site's own record of it, so a killed worker
 * ships nothing twice. Workflow code.
 */
import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { ProtectionActivities } from '../activities/protection.ts';
import type { DivergenceResult, ReprotectActivities, ReversePointResult } from '../activities/reprotect.ts';
import type { Plan } from '../runbooks/plan.ts';
import { guardInput } from './guard.ts';
import { operationFinishedSignal } from './messages.ts';
import { proxySiteActivities } from './site-proxy.ts';
import type { OperationOutcome } from './types.ts';
import { validateReprotectInput } from './validate-reprotect.ts';

/**
 * Patch id: when the old primary's bitmaps since the point are gone (or a disk is raw), its
 * divergence is found by block digests against the common point's, not by shipping whole disks.
 */
export const REPROTECT_DIGEST_FALLBACK = 'reprotect-digest-fallback';

/**
 * Patch id: a reprotect that succeeded starts the runbook's reverse Schedule (reverse cycles on
 * the runbook's `replication.every` until failback), when the runbook is protected.
 */
export const REPROTECT_REVERSE_SCHEDULE = 'reprotect-reverse-schedule';

/**
 * Patch id: the old primary keeps each applied cycle as a reverse point (the bytes it overwrote
 * saved first) and the runbook's `retention` of them.
 */
export const REPROTECT_REVERSE_POINTS = 'reprotect-reverse-points';

const orchestrator = proxyActivities<ProtectionActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

export interface ReprotectInput {
  id: string;
  plan: Plan;
  controllerId: string;
  requestedBy?: string;
}

export interface ReprotectVmResult {
  vm: string;
  pointId: string | null;
  /** Why the disks went whole (no common point, no usable bitmap). */
  fullReason?: string;
  /** Bytes of the ranges shipped (the union), per the active site's delta. */
  deltaBytes: number;
  /** Of which the active site's own writes since failover (its overlays' clusters). */
  overlayBytes: number;
  /** The old primary's writes after the point: overwritten, kept in `sideDir`. */
  divergentBytes: number;
  /** Found by block digests against the point (the old primary's bitmaps were gone). */
  byDigests?: string[];
  sideDir?: string;
  /** Over the link: received by the old primary, and sent by the active site's server. */
  bytesReceived: number;
  bytesSent: number | null;
  resumes: number;
  snapshot: 'backup' | 'stopped';
  /** A reverse cycle: only what the active site wrote since this checkpoint was shipped. */
  since?: string;
  /** Why everything the overlays hold since the failover was counted instead. */
  sinceFailover?: string;
  /** The reverse point the cycle made at the old primary, and how many are kept there. */
  reversePoint?: ReversePointResult;
}

export interface ReprotectResult {
  id: string;
  outcome: OperationOutcome;
  /** The direction protection now runs. */
  from: string;
  to: string;
  vms: ReprotectVmResult[];
  /** The reverse Schedule the reprotect started or found, or why there is none. */
  reverseSchedule?: { id?: string; action?: 'created' | 'kept'; why?: string };
  error?: string;
}

/**
 * The site activities beat every 3 s (`guarded`) and never block the event loop for long (every
 * copy and hash is a child process or a streamed read), so a worker killed mid-step is noticed,
 * and the step retried, within 15 s.
 */
export const REPROTECT_HEARTBEAT_TIMEOUT = '15 seconds';

function sites(plan: Plan) {
  // After a failover the secondary is active: it is the source, the old primary the target.
  const active = plan.sites.secondary.name;
  const target = plan.sites.primary.name;
  const long = { startToCloseTimeout: '3 hours', heartbeatTimeout: REPROTECT_HEARTBEAT_TIMEOUT } as const;
  const retry = { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5 } as const;
  return {
    active,
    target,
    source: proxySiteActivities<ReprotectActivities>(active, { ...long, retry }),
    old: proxySiteActivities<ReprotectActivities>(target, { ...long, retry }),
  };
}

export async function reprotectVm(input: ReprotectInput, vm: string): Promise<ReprotectVmResult> {
  const { source, old } = sites(input.plan);
  const src = await source.reprotectSource({ vm });
  const asked = {
    operationId: input.id,
    runbook: input.plan.runbook.name,
    vm,
    pointId: src.pointId,
    checkpoint: src.checkpoint,
  };
  let div: DivergenceResult = await old.reprotectDivergence(asked);
  if (div.needsDigests && src.pointId !== null && patched(REPROTECT_DIGEST_FALLBACK)) {
    const digests = await source.reprotectPointDigests({ vm, pointId: src.pointId });
    div = await old.reprotectDivergence({ ...asked, digests });
  }
  const ex = await source.reprotectExport({
    operationId: input.id,
    vm,
    pointId: src.pointId,
    divergent: div.disks,
    ...(src.noCommonPoint === undefined ? {} : { fullReason: src.noCommonPoint }),
    ...(div.lastReprotect === undefined ? {} : { lastReprotect: div.lastReprotect }),
  });
  const ap = await old.reprotectApply({
    operationId: input.id,
    vm,
    transfer: ex.transfer,
    ...(patched(REPROTECT_REVERSE_POINTS) ? { keepPoints: input.plan.replication.retentionPoints } : {}),
  });
  const cl = await source.reprotectCleanup({ operationId: input.id, vm, applied: true });
  const unknown = div.disks.filter((d) => d.unknown !== undefined).map((d) => `${d.target}: ${d.unknown}`);
  const fullReason = src.noCommonPoint ?? (unknown.length > 0 ? unknown.join('; ') : undefined);
  return {
    vm,
    pointId: src.pointId,
    ...(fullReason === undefined ? {} : { fullReason }),
    deltaBytes: ex.deltaBytes,
    overlayBytes: ex.disks.reduce((n, d) => n + d.overlayBytes, 0),
    divergentBytes: div.disks.reduce((n, d) => n + d.bytes, 0),
    ...(div.disks.some((d) => d.method === 'digests')
      ? { byDigests: div.disks.filter((d) => d.method === 'digests').map((d) => d.target) }
      : {}),
    ...(div.sideDir === undefined ? {} : { sideDir: div.sideDir }),
    bytesReceived: ap.bytesReceived,
    bytesSent: cl.bytesSent,
    resumes: ap.resumes,
    snapshot: ex.snapshot,
    ...(ex.since === undefined ? {} : { since: ex.since }),
    ...(ex.sinceFailover === undefined ? {} : { sinceFailover: ex.sinceFailover }),
    ...(ap.point === undefined ? {} : { reversePoint: ap.point }),
  };
}

export async function reprotectWorkflow(input: ReprotectInput): Promise<ReprotectResult> {
  guardInput('reprotect', input, validateReprotectInput);
  const { active, target } = sites(input.plan);
  const vms: ReprotectVmResult[] = [];
  let outcome: OperationOutcome = 'failed';
  let error: string | undefined;
  let reverseSchedule: ReprotectResult['reverseSchedule'];
  try {
    for (const vm of input.plan.groups.flatMap((g) => g.vms.map((v) => v.name))) {
      vms.push(await reprotectVm(input, vm));
    }
    outcome = 'succeeded';
    if (patched(REPROTECT_REVERSE_SCHEDULE)) {
      // Protection goes on from here in the reverse direction; a failure to schedule it does not
      // undo the reprotect (the result says why).
      reverseSchedule = await orchestrator
        .startReverseProtection({
          plan: input.plan,
          taskQueue: workflowInfo().taskQueue,
          note: `reverse protection after ${input.id}: ${active} toward ${target}, until failback`,
        })
        .catch((err: unknown) => ({
          why: `not scheduled: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`,
        }));
    }
  } catch (err) {
    outcome = isCancellation(err) ? 'cancelled' : 'failed';
    error =
      err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  } finally {
    await CancellationScope.nonCancellable(async () => {
      await getExternalWorkflowHandle(input.controllerId)
        .signal(operationFinishedSignal, { id: input.id, outcome, ...(error ? { error } : {}) })
        .catch(() => undefined);
    });
  }
  return {
    id: input.id,
    outcome,
    from: active,
    to: target,
    vms,
    ...(reverseSchedule ? { reverseSchedule } : {}),
    ...(error ? { error } : {}),
  };
}
