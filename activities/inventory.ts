/**
 * The site activity behind `--live` checks: this site's inventory (VMs with disks, NICs and
 * state, networks, storage free/writable, host memory), read through the site's own driver so
 * only the site's worker ever talks to its hypervisor. A hypervisor that does not answer is an
 * answer (`reachable: false`), not a failure to retry.
 */
import { Context } from '@temporalio/activity';
import { collectInventory, type InventoryRequest, type SiteInventory } from '../drivers/inventory.ts';
import type { SiteDriver } from '../drivers/types.ts';

export type { InventoryRequest, SiteInventory } from '../drivers/inventory.ts';

export function createInventoryActivities(deps: { driver: SiteDriver }) {
  return {
    async siteInventory(input: InventoryRequest): Promise<SiteInventory> {
      const ctx = Context.current();
      ctx.heartbeat();
      // Heartbeats let a worker that dies mid-read be noticed within the heartbeat timeout.
      const timer = setInterval(() => ctx.heartbeat(), 2_000);
      try {
        return await collectInventory(deps.driver, input);
      } finally {
        clearInterval(timer);
      }
    },
  };
}

export type InventoryActivities = ReturnType<typeof createInventoryActivities>;
