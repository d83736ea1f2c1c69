/**
 * Fencing at a site, run by that site's own worker: `enforceFence` writes the site's fence record
 * first (drivers/fence-record.ts: from then on the driver refuses to start the VMs), then turns
 * each VM's autostart off and forces it off, and reads its workload's last records offline (the
 * VM is stopped: the count is exact). `liftFence` moves the record aside with who lifted it and
 * why; lifted by the failover that fenced (its rollback), it first turns autostart back on where
 * the fence had turned it off. Both observe before they act, so a retry acts once.
 */
import { VmNotFoundError } from '../drivers/errors.ts';
import { type FenceRecord, liftFence, readFence, writeFence } from '../drivers/fence-record.ts';
import type { SiteDriver, VmInfo } from '../drivers/types.ts';
import { readLastRecord } from '../workload/reader.ts';
import type { DiskRecord } from './failover.ts';
import { toFailure } from './vm.ts';

export interface EnforceFenceInput {
  runbook: string;
  vms: string[];
  operationId: string;
  by: string;
  reason: string;
  /** When the fence was acknowledged (the record keeps this time, not the enforcement's). */
  at: string;
}

export interface FencedVm {
  vm: string;
  /** Running when the fence was enforced (a rollback starts only those again). */
  wasRunning: boolean;
  autostartWas: boolean;
  /** The workload's last record on each data disk, read offline after the stop. */
  disks: DiskRecord[];
  detail: string;
}

export interface EnforceFenceResult {
  site: string;
  enforcedAt: string;
  vms: FencedVm[];
}

export interface LiftFenceInput {
  runbook: string;
  operationId: string;
  by: string;
  reason: string;
}

export interface LiftFenceResult {
  site: string;
  /** False when no fence stood (already lifted, or never enforced). */
  lifted: boolean;
  fencedBy?: string;
  /** The VMs whose autostart the fence had turned off and this lift (a rollback) turned on. */
  autostartRestored?: string[];
  at: string;
}

/** `storage` is asked for when an activity runs: a worker without one fails that activity only. */
export function createFenceActivities(deps: { driver: SiteDriver; storage: () => string }) {
  const { driver } = deps;
  return {
    async enforceFence(input: EnforceFenceInput): Promise<EnforceFenceResult> {
      try {
        // Autostart as it was before the fence touches anything (a retry keeps the first record's).
        const autostartOn: string[] = [];
        for (const vm of input.vms) if ((await inspectOrNone(driver, vm))?.autostart) autostartOn.push(vm);
        const record: Omit<FenceRecord, 'version'> = {
          runbook: input.runbook,
          site: driver.site,
          vms: input.vms,
          operationId: input.operationId,
          by: input.by,
          reason: input.reason,
          at: input.at,
          autostartOn,
        };
        // The record first: from here nothing (the driver, a retry, an operator's `lifeboat`)
        // starts these VMs at this site.
        const standing = await writeFence(deps.storage(), record);
        const wasOn = new Set(standing.autostartOn ?? []);
        const vms: FencedVm[] = [];
        for (const vm of input.vms) vms.push(await fenceVm(driver, vm, wasOn.has(vm)));
        return { site: driver.site, enforcedAt: new Date().toISOString(), vms };
      } catch (err) {
        throw toFailure(err);
      }
    },

    async liftFence(input: LiftFenceInput): Promise<LiftFenceResult> {
      try {
        const at = new Date().toISOString();
        // The fencing failover rolling back: its VMs go back to how they were, autostart
        // included, before the record goes (a crash between leaves it fenced, and a retry redoes
        // this). Anyone else's lift (unfence after a commit) leaves autostart off.
        const standing = await readFence(deps.storage(), input.runbook, driver.site);
        const restored: string[] = [];
        if (standing && standing.operationId === input.operationId) {
          for (const vm of standing.autostartOn ?? []) {
            const info = await inspectOrNone(driver, vm);
            if (!info) continue;
            if (!info.autostart) await driver.setAutostart(vm, true);
            restored.push(vm);
          }
        }
        const r = await liftFence(deps.storage(), input.runbook, driver.site, {
          by: input.by,
          reason: input.reason,
          at,
          operationId: input.operationId,
        });
        return {
          site: driver.site,
          lifted: r !== undefined,
          ...(r ? { fencedBy: r.operationId } : {}),
          ...(restored.length > 0 ? { autostartRestored: restored } : {}),
          at,
        };
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

/** The VM as the site has it, or undefined when it is not defined there. */
async function inspectOrNone(driver: SiteDriver, vm: string): Promise<VmInfo | undefined> {
  try {
    return await driver.inspectVm(vm);
  } catch (err) {
    if (err instanceof VmNotFoundError) return undefined;
    throw err;
  }
}

/** `autostartWas`: as the fence record has it (read before the first attempt touched anything). */
async function fenceVm(driver: SiteDriver, vm: string, autostartWas: boolean): Promise<FencedVm> {
  const info = await inspectOrNone(driver, vm);
  if (!info) return { vm, wasRunning: false, autostartWas: false, disks: [], detail: 'not defined here' };
  if (info.autostart) await driver.setAutostart(vm, false);
  const wasRunning = info.state !== 'shut off';
  // Forced: the runbook runs elsewhere now, and a clean shutdown could let the guest write on.
  if (wasRunning) await driver.destroyVm(vm);
  const disks: DiskRecord[] = [];
  const unread: string[] = [];
  for (const d of info.disks.filter((x) => x.device !== 'cdrom')) {
    // A disk that cannot be read leaves the loss uncounted for it, never the fence unenforced.
    const scan = await readLastRecord(d.source).catch((err: unknown) => {
      unread.push(`${d.target}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    });
    if (!scan || scan.lastSeq === 0) continue;
    disks.push({
      target: d.target,
      seq: scan.lastSeq,
      validRecords: scan.validRecords,
      ...(scan.last ? { timestampMs: scan.last.timestampMs, crc: scan.last.crc } : {}),
    });
  }
  const detail =
    `${wasRunning ? 'forced off' : 'already off'}, autostart ${autostartWas ? 'turned off' : 'was off'}` +
    (unread.length > 0 ? `; records not read: ${unread.join('; ')}` : '');
  return { vm, wasRunning, autostartWas, disks, detail };
}
