/**
 * One VM's part of a replication cycle (a child of the cycle workflow, so a runbook with
 * hundreds of VMs keeps each history small): ask the secondary for its newest committed point,
 * export from the primary on top of that point's checkpoint, pull and commit at the secondary,
 * then clean up at the primary. Never leaves a partial point: a failure aborts the staging.
 */
import { ActivityFailure, CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { ReplicationActivities } from '../activities/replication.ts';
import { guardInput } from './guard.ts';
import { proxySiteActivities } from './site-proxy.ts';
import { validateReplicationVmInput } from './validate-replication.ts';

export interface VmCycleInput {
  cycleId: string;
  runbook: string;
  group: string;
  vm: string;
  /** Domain name at the primary (the runbook's VM name in the lab). */
  domain: string;
  pointId: string;
  primarySite: string;
  secondarySite: string;
  consistency: 'application' | 'crash';
  /** The group's `data` check commands (absent when it has none). */
  dataCommands?: string[][];
}

export interface VmCycleResult {
  vm: string;
  group: string;
  pointId: string;
  outcome: 'committed' | 'failed';
  kind?: 'full' | 'incremental';
  fullReason?: string;
  consistency?: { requested: string; achieved: string; reason?: string };
  bytesShipped?: number;
  bytesReceived?: number;
  /** online: libvirt backup of a running VM; offline: bitmaps of a stopped VM's disks. */
  mode?: 'online' | 'offline';
  /** Set when broken bitmaps forced a resync by block digests: why, and how much differed. */
  resync?: { reason: string; blocksCompared: number; blocksShipped: number };
  /** Dirty bytes the base checkpoint's bitmaps counted (incremental only). */
  dirtyBytes?: number;
  /** Requests that continued a partial file (a cut link or a restarted worker). */
  resumes?: number;
  /** Streamed (NBD) copies started over from the beginning: NBD has no resume. */
  restarts?: number;
  /** How the disks travelled: `nbd` when a stopped VM's full copy was streamed. */
  transport?: 'https' | 'nbd';
  deletedCheckpoints?: string[];
  /** Milliseconds per step, as each site measured its part (export at the primary, pull and commit at the secondary). */
  phasesMs?: { export?: Record<string, number>; pullCommit?: Record<string, number> };
  error?: string;
}

/** patched() id: a committed idle point whose export says there is nothing to clean skips the cleanup. */
export const IDLE_NO_CLEANUP_PATCH = 'replication-idle-no-cleanup';

/** patched() id: replication activities got maximum attempts and schedule-to-close timeouts. */
export const REPLICATION_BOUNDS_PATCH = 'replication-activities-bounded';

const retry = { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 } as const;
/** Every replication activity's bounds: attempts, and the time over all of them. */
export const REPLICATION_BOUNDS = {
  quick: { scheduleToCloseTimeout: '15 minutes', retry: { ...retry, maximumAttempts: 5 } },
  export: { scheduleToCloseTimeout: '3 hours', retry: { ...retry, maximumAttempts: 3 } },
  pull: { scheduleToCloseTimeout: '6 hours', retry: { ...retry, maximumAttempts: 3 } },
} as const;

function message(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

export async function replicationVmWorkflow(input: VmCycleInput): Promise<VmCycleResult> {
  guardInput('replication VM', input, validateReplicationVmInput);
  // Bounded since REPLICATION_BOUNDS_PATCH: a few attempts and a total time per activity (a
  // transfer that cannot finish fails the cycle instead of retrying forever).
  const b = patched(REPLICATION_BOUNDS_PATCH) ? REPLICATION_BOUNDS : null;
  const quick = { startToCloseTimeout: '2 minutes', ...b?.quick } as const;
  const primary = proxySiteActivities<ReplicationActivities>(input.primarySite, {
    ...quick,
    startToCloseTimeout: '60 minutes',
    heartbeatTimeout: '30 seconds',
    ...b?.export,
  });
  const secondary = proxySiteActivities<ReplicationActivities>(input.secondarySite, {
    startToCloseTimeout: '120 minutes',
    heartbeatTimeout: '30 seconds',
    ...b?.pull,
  });
  const secondaryQuick = proxySiteActivities<ReplicationActivities>(input.secondarySite, quick);
  const primaryQuick = proxySiteActivities<ReplicationActivities>(input.primarySite, quick);
  const { vm, pointId, runbook, group } = input;

  let committed = false;
  // Unknown until the secondary answered: then no checkpoint may be deleted.
  let keep: string[] | null = null;
  try {
    const base = await secondaryQuick.replicationBase({ vm });
    keep = base.keepCheckpoints;
    const ex = await primary.replicationPrepareExport({
      vm,
      domain: input.domain,
      pointId,
      base: base.base,
      ...(base.baseUnusable === undefined ? {} : { baseUnusable: base.baseUnusable }),
      keepCheckpoints: base.keepCheckpoints,
      ...(base.baseBlocks === undefined ? {} : { baseBlocks: base.baseBlocks }),
      consistency: input.consistency,
      ...(input.dataCommands === undefined ? {} : { dataCommands: input.dataCommands }),
    });
    const res = await secondary.replicationPullCommit({
      runbook,
      group,
      vm,
      pointId,
      export: ex,
      transferStartedAt: new Date(Date.now()).toISOString(),
    });
    committed = true;
    // Since IDLE_NO_CLEANUP_PATCH an idle point of a stopped VM skips the primary's cleanup: its
    // export registered nothing, left no staging and made no checkpoint.
    const cleanup =
      ex.nothingToClean === true && patched(IDLE_NO_CLEANUP_PATCH)
        ? { deletedCheckpoints: [] as string[] }
        : await primaryQuick
            .replicationCleanup({
              vm,
              domain: input.domain,
              pointId,
              keepCheckpoints: [...base.keepCheckpoints, ex.checkpoint],
            })
            .catch(() => ({ deletedCheckpoints: [] as string[] }));
    return {
      vm,
      group,
      pointId,
      outcome: 'committed',
      kind: ex.kind,
      ...(ex.fullReason === undefined ? {} : { fullReason: ex.fullReason }),
      consistency: ex.consistency,
      bytesShipped: res.bytesShipped,
      bytesReceived: res.bytesReceived,
      resumes: res.resumes,
      ...(res.restarts === undefined ? {} : { restarts: res.restarts }),
      ...(ex.nbd === undefined ? {} : { transport: 'nbd' as const }),
      mode: ex.mode,
      ...(ex.resync === undefined ? {} : { resync: ex.resync }),
      ...(ex.dirtyBytes === undefined ? {} : { dirtyBytes: ex.dirtyBytes }),
      deletedCheckpoints: [...ex.deletedCheckpoints, ...cleanup.deletedCheckpoints],
      phasesMs: {
        ...(ex.phasesMs === undefined ? {} : { export: ex.phasesMs }),
        ...(res.phasesMs === undefined ? {} : { pullCommit: res.phasesMs }),
      },
    };
  } catch (err) {
    if (committed) throw err;
    // Undo in a non-cancellable scope: a cancelled cycle must still leave no staging behind.
    await CancellationScope.nonCancellable(async () => {
      await secondaryQuick.replicationAbort({ runbook, group, vm, pointId }).catch(() => undefined);
      if (keep !== null) {
        await primaryQuick
          .replicationCleanup({ vm, domain: input.domain, pointId, keepCheckpoints: keep })
          .catch(() => undefined);
      }
    });
    return {
      vm,
      group,
      pointId,
      outcome: 'failed',
      error: `${workflowInfo().workflowId}: ${message(err)}`,
    };
  }
}
