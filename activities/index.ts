/**
 * Activity factories. Each receives its dependencies so tests pass real or test drivers
 * without module mocking. Orchestrator activities run on the shared queue; site activities
 * run only on their site's worker (`site-<name>` queue).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { SiteDriver } from '../drivers/types.ts';
import { drStateKey } from '../drstate/store.ts';
import { type CheckInput, type CheckProbes, type CheckResult, runCheck } from './checks.ts';
import { createControllerActivities } from './controller.ts';
import { createDrStateActivities, noDrStateKey } from './dr-state.ts';
import { createEvidenceActivities, type EvidenceDeps } from './evidence.ts';
import { createFailbackActivities, FAILBACK_ACTIVITY_NAMES, type FailbackActivities } from './failback.ts';
import { createFailoverActivities } from './failover.ts';
import { createFenceActivities } from './fence.ts';
import { type HookInput, type HookResult, runHook } from './hooks.ts';
import { createInventoryActivities } from './inventory.ts';
import { createGuestProbes } from './probes.ts';
import { createProtectionActivities, type ProtectionMetrics } from './protection.ts';
import {
  createReplicationActivities,
  REPLICATION_ACTIVITY_NAMES,
  type ReplicationActivities,
  type ReplicationSiteDeps,
} from './replication.ts';
import {
  createReprotectActivities,
  REPROTECT_ACTIVITY_NAMES,
  type ReprotectActivities,
} from './reprotect.ts';
import {
  createRestoreActivities,
  createRestorer,
  type IsolationProbeInput,
  type IsolationProbeResult,
  type RestorePreflightInput,
  type RestorePreflightResult,
  type SiteRestorer,
  type TeardownProofInput,
  type TeardownProofResult,
} from './restore.ts';
import { runVmAction, type VmActionInput, type VmActionResult } from './vm.ts';

export type { CheckInput, CheckProbes, CheckResult } from './checks.ts';
export type { RecordedEvidence } from './evidence.ts';
export type { DiskRecord, ShutdownInput, ShutdownResult, WorkloadReadResult } from './failover.ts';
export type {
  EnforceFenceInput,
  EnforceFenceResult,
  FencedVm,
  LiftFenceInput,
  LiftFenceResult,
} from './fence.ts';
export type { HookInput, HookResult } from './hooks.ts';
export type {
  IsolationProbeInput,
  IsolationProbeResult,
  RestoredPoint,
  RestorePreflightInput,
  RestorePreflightResult,
  SiteRestorer,
  TeardownProofInput,
  TeardownProofResult,
} from './restore.ts';
export type { VmActionInput, VmActionResult } from './vm.ts';

export type OrchestratorDeps = EvidenceDeps & { protectionMetrics?: ProtectionMetrics };

export interface SiteDeps {
  siteName: string;
  driver: SiteDriver;
  /** Directory of the scripts that `run` steps may execute on this site. */
  hooksDir?: string;
  /** How this site reaches guests for tcp/http checks; default: direct connections (probes.ts). */
  probes?: CheckProbes;
  /** The site's replication service (transfer server, replica store); absent: no replication. */
  replication?: ReplicationSiteDeps;
  /** Restores VMs from points; default: over the replication service's store, when there is one. */
  restorer?: SiteRestorer;
  /** The site's storage directory: where its fence records (drivers/fence-record.ts) and DR-state records (drstate/) live. */
  storage?: string;
  /** The key DR-state records are signed with (drstate/store.ts); default: from the transfer key. */
  drStateKey?: Buffer;
}

export function createOrchestratorActivities(deps: OrchestratorDeps) {
  return {
    ...createEvidenceActivities(deps),
    ...createControllerActivities(),
    ...createProtectionActivities({ metrics: deps.protectionMetrics }),
  };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;

export function createSiteActivities(deps: SiteDeps) {
  // The worker runs on its site's network and connects to guests itself unless told otherwise.
  const probes = deps.probes ?? createGuestProbes(deps.driver);
  const restorer =
    deps.restorer ??
    (deps.replication
      ? createRestorer({
          driver: deps.driver,
          store: deps.replication.store,
          storage: deps.replication.storage,
        })
      : undefined);
  const restore = restorer ? createRestoreActivities(restorer) : undefined;
  return {
    /** prepareVm / startVm / stopVm / teardownVm, idempotent by observing the VM first. */
    async vmAction(input: VmActionInput): Promise<VmActionResult> {
      return withHeartbeat(() => runVmAction(deps.driver, input, restorer));
    },
    async runCheck(input: CheckInput): Promise<CheckResult> {
      // A check only reads: once cancelled (the operation aborted) it ends at once.
      const cancelled = Context.current().cancelled as Promise<never>;
      return withHeartbeat(() => Promise.race([runCheck(deps.driver, probes, input), cancelled]));
    },
    /** The point set an operation restores, checked against the site (network, room). */
    async restorePreflight(input: RestorePreflightInput): Promise<RestorePreflightResult> {
      return withHeartbeat(() => needRestore(restore).restorePreflight(input));
    },
    async restoreIsolationProbe(input: IsolationProbeInput): Promise<IsolationProbeResult[]> {
      return withHeartbeat(() => needRestore(restore).restoreIsolationProbe(input));
    },
    async restoreTeardownProof(input: TeardownProofInput): Promise<TeardownProofResult> {
      return withHeartbeat(() => needRestore(restore).restoreTeardownProof(input));
    },
    async runHook(input: HookInput): Promise<HookResult> {
      return withHeartbeat(() => runHook(deps.hooksDir, deps.siteName, input));
    },
    /** A planned failover: shutting primary VMs down, reading workload records offline. */
    ...createFailoverActivities({
      driver: deps.driver,
      ...(deps.replication ? { store: deps.replication.store } : {}),
    }),
    /** enforceFence / liftFence: the site's own fence record, its VMs stopped, autostart off. */
    ...heartbeating(createFenceActivities({ driver: deps.driver, storage: () => siteStorage(deps) })),
    /** readDrState / writeDrState: the runbook's DR state as this site keeps it, signed. */
    ...createDrStateActivities({
      site: deps.siteName,
      storage: () => siteStorage(deps),
      key: () => siteDrStateKey(deps),
    }),
    /** siteInventory: what `--live` checks compare with the Plan. */
    ...createInventoryActivities(deps),
    // The site's driver reaches the guests' agents: how `data` commands get to the freeze hook.
    ...(deps.replication
      ? createReplicationActivities({ guest: deps.driver, ...deps.replication })
      : noReplication<ReplicationActivities>(
          deps.siteName,
          REPLICATION_ACTIVITY_NAMES,
          'take part in a cycle',
        )),
    /** Reprotect: the delta that makes the old primary's disks equal to the active site's. */
    ...(deps.replication
      ? createReprotectActivities({ driver: deps.driver, replication: deps.replication })
      : noReplication<ReprotectActivities>(
          deps.siteName,
          REPROTECT_ACTIVITY_NAMES,
          'reprotect or fail back',
        )),
    /** After a committed failback: the secondary's failover VMs and the reprotect bitmaps go. */
    ...(deps.replication
      ? heartbeating(createFailbackActivities({ driver: deps.driver, storage: deps.replication.storage }))
      : noReplication<FailbackActivities>(
          deps.siteName,
          FAILBACK_ACTIVITY_NAMES,
          'clean up after a failback',
        )),
  };
}

/**
 * A site worker without replication still answers every replication and reprotect activity, at
 * once and for good, saying why: an unregistered name would be retried until its time ran out.
 */
function noReplication<T>(site: string, names: readonly string[], what: string): T {
  const refuse = async (): Promise<never> => {
    throw noReplicaStore(`site ${site}'s worker serves no replication: it cannot ${what}`);
  };
  return Object.fromEntries(names.map((name) => [name, refuse])) as T;
}

function noReplicaStore(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'NO_REPLICA_STORE',
    message,
    nonRetryable: true,
    details: [{ hint: 'start the site worker with replication configured (LIFEBOAT_REPLICATION_LISTEN)' }],
  });
}

/**
 * Heartbeats while `fn` runs, so a worker that dies mid-action is noticed within the activity's
 * heartbeat timeout and the action is retried elsewhere, not after its whole start-to-close.
 */
async function withHeartbeat<T>(fn: () => Promise<T>, everyMs = 2_000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** The same activities, each heartbeating while it runs (see withHeartbeat). */
function heartbeating<T extends Record<string, (input: never) => Promise<unknown>>>(acts: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) out[name] = (input: never) => withHeartbeat(() => fn(input));
  return out as T;
}

function siteDrStateKey(deps: SiteDeps): Buffer {
  const key = deps.drStateKey ?? (deps.replication ? drStateKey(deps.replication.transferKey) : undefined);
  if (key) return key;
  throw noDrStateKey(deps.siteName);
}

/** Where the site keeps its fences and DR state; a worker with no storage refuses rather than guess. */
function siteStorage(deps: SiteDeps): string {
  const storage = deps.storage ?? deps.replication?.storage;
  if (storage) return storage;
  throw ApplicationFailure.create({
    type: 'NO_SITE_STORAGE',
    message: `site worker ${deps.siteName} has no storage directory for its fence and DR-state records`,
    nonRetryable: true,
  });
}

function needRestore<T>(r: T | undefined): T {
  if (r === undefined) {
    throw noReplicaStore('this site worker has no replica store: it cannot restore VMs from recovery points');
  }
  return r;
}

export type SiteActivities = ReturnType<typeof createSiteActivities>;
