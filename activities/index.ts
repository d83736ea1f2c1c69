/**
 * Activity factories. Each receives its dependencies so tests pass real or test drivers
 * without module mocking. Orchestrator activities run on the shared queue; site activities
 * run only on their site's worker (`site-<name>` queue).
 */
import { Context } from '@temporalio/activity';
import type { SiteDriver } from '../drivers/types.ts';
import { type CheckInput, type CheckProbes, type CheckResult, runCheck } from './checks.ts';
import { type HookInput, type HookResult, runHook } from './hooks.ts';
import { createInventoryActivities } from './inventory.ts';
import { createGuestProbes } from './probes.ts';
import { createReplicationActivities, type ReplicationSiteDeps } from './replication.ts';
import { runVmAction, type VmActionInput, type VmActionResult } from './vm.ts';

export type { CheckInput, CheckProbes, CheckResult } from './checks.ts';
export type { HookInput, HookResult } from './hooks.ts';
export type { VmActionInput, VmActionResult } from './vm.ts';

// biome-ignore lint/complexity/noBannedTypes: filled in as activities are added
export type OrchestratorDeps = {};

export interface SiteDeps {
  siteName: string;
  driver: SiteDriver;
  /** Directory of the scripts that `run` steps may execute on this site. */
  hooksDir?: string;
  /** How this site reaches guests for tcp/http checks; default: direct connections (probes.ts). */
  probes?: CheckProbes;
  /** The site's replication service (transfer server, replica store); absent: no replication. */
  replication?: ReplicationSiteDeps;
}

export function createOrchestratorActivities(_deps: OrchestratorDeps) {
  return {};
}

export function createSiteActivities(deps: SiteDeps) {
  // The worker runs on its site's network and connects to guests itself unless told otherwise.
  const probes = deps.probes ?? createGuestProbes(deps.driver);
  return {
    /** prepareVm / startVm / stopVm / teardownVm, idempotent by observing the VM first. */
    async vmAction(input: VmActionInput): Promise<VmActionResult> {
      return withHeartbeat(() => runVmAction(deps.driver, input));
    },
    async runCheck(input: CheckInput): Promise<CheckResult> {
      return withHeartbeat(() => runCheck(deps.driver, probes, input));
    },
    async runHook(input: HookInput): Promise<HookResult> {
      return withHeartbeat(() => runHook(deps.hooksDir, deps.siteName, input));
    },
    /** siteInventory: what `--live` checks compare with the Plan. */
    ...createInventoryActivities(deps),
    ...(deps.replication ? createReplicationActivities(deps.replication) : {}),
  };
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

export type SiteActivities = ReturnType<typeof createSiteActivities>;
