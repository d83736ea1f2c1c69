/**
 * A site's inventory: what live checks need to know about one site, gathered through its own
 * driver (on the site's worker) as plain JSON data, so the comparison with a Plan is a pure
 * function (drivers/live-check.ts) and the data can cross Temporal as an activity result.
 * Reads only; changes nothing.
 */
import type { Plan, SiteRole } from '../runbooks/plan.ts';
import { isDriverError, OperationTimedOutError, SiteUnreachableError, VmNotFoundError } from './errors.ts';
import type { HostInfo, ImageInfo, NetworkInfo, SiteDriver, StorageInfo, VmInfo } from './types.ts';

export interface InventoryRequest {
  /** VMs to inspect, each with the images of its disks. */
  vms: string[];
  /** Storage directories to measure, as the site sees them. */
  storage: string[];
  /** Whether to include the host's CPUs and memory. */
  host: boolean;
}

export interface DiskImage {
  target: string;
  source: string;
  image?: ImageInfo;
  /** Why the image could not be read (set instead of `image`). */
  error?: { code: string; message: string };
}

export type VmInventory =
  | { name: string; found: false }
  | { name: string; found: true; info: VmInfo; images: DiskImage[] };

export interface ReachableSite {
  site: string;
  reachable: true;
  vms: VmInventory[];
  networks: NetworkInfo[];
  storage: StorageInfo[];
  host?: HostInfo;
}

/**
 * Why a site could not be inventoried: its hypervisor did not answer (`hypervisor-unreachable`),
 * no worker of the site picked the request up in time (`no-worker`), or something else failed.
 */
export interface UnreachableSite {
  site: string;
  reachable: false;
  reason: 'hypervisor-unreachable' | 'no-worker' | 'failed';
  message: string;
  hint: string;
}

export type SiteInventory = ReachableSite | UnreachableSite;

/** What each site is asked for: the primary's VMs and their images; the secondary's host. */
export function inventoryRequests(plan: Plan): Record<SiteRole, InventoryRequest> {
  return {
    primary: {
      vms: plan.groups.flatMap((g) => g.vms.map((v) => v.name)),
      storage: [plan.sites.primary.storage],
      host: false,
    },
    secondary: { vms: [], storage: [plan.sites.secondary.storage], host: true },
  };
}

/** A dead hypervisor, not a problem with one object: the whole site is then unreachable. */
function isSiteDown(err: unknown): err is SiteUnreachableError | OperationTimedOutError {
  return err instanceof SiteUnreachableError || err instanceof OperationTimedOutError;
}

/** Gathers one site's inventory through its driver. Throws only on unexpected errors. */
export async function collectInventory(driver: SiteDriver, req: InventoryRequest): Promise<SiteInventory> {
  try {
    const networks = await driver.listNetworks();
    const vms: VmInventory[] = [];
    for (const name of req.vms) vms.push(await inspect(driver, name));
    const storage: StorageInfo[] = [];
    // Keyed by the path asked for, which is what the Plan names.
    for (const dir of req.storage) storage.push({ ...(await driver.storageInfo(dir)), path: dir });
    const inv: ReachableSite = { site: driver.site, reachable: true, vms, networks, storage };
    if (req.host) inv.host = await driver.hostInfo();
    return inv;
  } catch (err) {
    if (!isSiteDown(err)) throw err;
    return {
      site: driver.site,
      reachable: false,
      reason: 'hypervisor-unreachable',
      message: err.message,
      hint: err.hint,
    };
  }
}

async function inspect(driver: SiteDriver, name: string): Promise<VmInventory> {
  let info: VmInfo;
  try {
    info = await driver.inspectVm(name);
  } catch (err) {
    if (err instanceof VmNotFoundError) return { name, found: false };
    throw err;
  }
  const images: DiskImage[] = [];
  for (const disk of info.disks.filter((d) => (d.device ?? 'disk') === 'disk')) {
    try {
      images.push({ target: disk.target, source: disk.source, image: await driver.imageInfo(disk.source) });
    } catch (err) {
      if (!isDriverError(err) || isSiteDown(err)) throw err;
      images.push({
        target: disk.target,
        source: disk.source,
        error: { code: err.code, message: err.message },
      });
    }
  }
  return { name, found: true, info, images };
}
