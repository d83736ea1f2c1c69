/**
 * `siteInventoryWorkflow`: each named site's inventory, read by that site's own worker (the
 * `siteInventory` activity on queue `site-<name>`), for `lifeboat validate|plan --live`. A site
 * whose worker does not pick the request up within the schedule-to-start timeout is reported as
 * such, never waited on forever; the sites are asked in parallel.
 */
import { ActivityFailure, TimeoutFailure } from '@temporalio/workflow';
import type { InventoryActivities, InventoryRequest, SiteInventory } from '../activities/inventory.ts';
import type { SiteRole } from '../runbooks/plan.ts';
import { guardInput } from './guard.ts';
import { proxySiteActivities, SITE_SCHEDULE_TO_START_MS } from './site-proxy.ts';
import { validateSiteInventoryInput } from './validate-inventory.ts';

export interface SiteInventoryInput {
  sites: Array<{ role: SiteRole; site: string; request: InventoryRequest }>;
  /** How long each site's worker has to pick the request up (default SITE_SCHEDULE_TO_START_MS). */
  scheduleToStartMs?: number;
}

export interface SiteInventoryOutput {
  sites: Array<{ role: SiteRole; site: string; inventory: SiteInventory }>;
}

export async function siteInventoryWorkflow(input: SiteInventoryInput): Promise<SiteInventoryOutput> {
  // Read-only, so not tied to a parent: the CLI starts it directly.
  guardInput('site inventory', input, validateSiteInventoryInput);
  const scheduleToStartMs = input.scheduleToStartMs ?? SITE_SCHEDULE_TO_START_MS;
  const sites = await Promise.all(
    input.sites.map(async ({ role, site, request }) => ({
      role,
      site,
      inventory: await inventoryOf(site, request, scheduleToStartMs),
    })),
  );
  return { sites };
}

async function inventoryOf(
  site: string,
  request: InventoryRequest,
  scheduleToStartMs: number,
): Promise<SiteInventory> {
  const acts = proxySiteActivities<InventoryActivities>(site, {
    scheduleToStartTimeout: scheduleToStartMs,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '15 seconds',
    retry: { initialInterval: '1s', maximumInterval: '5s', maximumAttempts: 3 },
  });
  try {
    return await acts.siteInventory(request);
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START') {
      return {
        site,
        reachable: false,
        reason: 'no-worker',
        message: `no worker of site ${site} picked the request up within ${Math.round(scheduleToStartMs / 1000)} s`,
        hint: `start the site's worker: lifeboat worker site ${site} (in the lab: lifeboat lab workers start)`,
      };
    }
    const failure = cause ?? err;
    return {
      site,
      reachable: false,
      reason: 'failed',
      message: failure instanceof Error ? failure.message : String(failure),
      hint: `read the log of site ${site}'s worker`,
    };
  }
}
