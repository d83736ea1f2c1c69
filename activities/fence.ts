/**
 * Fencing at a site, run by that site's own worker: `enforceFence` writes the site's fence record
 * first (drivers/fence-record.ts: from then on the driver refuses to start the VMs), then turns
 * each VM's autostart off and forces it off, and reads its workload's last records offline (the
 * VM is stopped: the count is exact). `liftFence` moves the record aside with who lifted it and
 * why. Both observe before they act, so a retry acts once.
 */
import { VmNotFoundError } from '../drivers/errors.ts';
import { type FenceRecord, liftFence, writeFence } from '../drivers/fence-record.ts';
import type { SiteDriver } from '../drivers/types.ts';
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
  at: string;
}

/** `storage` is asked for when an activity runs: a worker without one fails that activity only. */
export function createFenceActivities(deps: { driver: SiteDriver; storage: () => string }) {
  const { driver } = deps;
  return {
    async enforceFence(input: EnforceFenceInput): Promise<EnforceFenceResult> {
      try {
        const record: Omit<FenceRecord, 'version'> = {
          runbook: input.runbook,
          site: driver.site,
          vms: input.vms,
          operationId: input.operationId,
          by: input.by,
          reason: input.reason,
          at: input.at,
        };
        // The record first: from here nothing (the driver, a retry, an operator's `lifeboat`)
        // starts these VMs at this site.
        await writeFence(deps.storage(), record);
        const vms: FencedVm[] = [];
        for (const vm of input.vms) vms.push(await fenceVm(driver, vm));
        return { site: driver.site, enforcedAt: new Date().toISOString(), vms };
      } catch (err) {
        throw toFailure(err);
      }
    },

    async liftFence(input: LiftFenceInput): Promise<LiftFenceResult> {
      const at = new Date().toISOString();
      const r = await liftFence(deps.storage(), input.runbook, driver.site, {
        by: input.by,
        reason: input.reason,
        at,
        operationId: input.operationId,
      });
      return { site: driver.site, lifted: r !== undefined, ...(r ? { fencedBy: r.operationId } : {}), at };
    },
  };
}

async function fenceVm(driver: SiteDriver, vm: string): Promise<FencedVm> {
  let info: Awaited<ReturnType<SiteDriver['inspectVm']>>;
  try {
    info = await driver.inspectVm(vm);
  } catch (err) {
    if (err instanceof VmNotFoundError)
      return { vm, wasRunning: false, autostartWas: false, disks: [], detail: 'not defined here' };
    throw err;
  }
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
    `${wasRunning ? 'forced off' : 'already off'}, autostart ${info.autostart ? 'turned off' : 'was off'}` +
    (unread.length > 0 ? `; records not read: ${unread.join('; ')}` : '');
  return { vm, wasRunning, autostartWas: info.autostart, disks, detail };
}
