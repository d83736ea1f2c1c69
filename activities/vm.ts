/**
 * VM actions on one site. Each observes the VM first and acts only when needed, so a retry after
 * a crash (the action done, its completion lost) does not act twice.
 */
import { ApplicationFailure } from '@temporalio/common';
import { isDriverError, VmNotFoundError } from '../drivers/errors.ts';
import type { SiteDriver, VmInfo } from '../drivers/types.ts';
import { RestoreError } from '../restore/errors.ts';
import type { RestorePurpose } from '../restore/spec.ts';
import type { VmActionName } from '../workflows/types.ts';
import type { SiteRestorer } from './restore.ts';

export interface VmActionInput {
  operationId: string;
  action: VmActionName;
  vm: string;
  /** The site's own network name the VM should be on (after the runbook's network mapping). */
  networkName?: string;
  /** How long a clean shutdown may take before the VM is forced off. */
  shutdownDeadlineMs?: number;
  /** Build the VM from this recovery point instead of using a definition the site holds. */
  restore?: { purpose: RestorePurpose; runbook: string; pointId: string };
}

export interface VmActionResult {
  /** False when the VM was already in the wanted state: nothing to undo. */
  changed: boolean;
  detail: string;
}

export async function runVmAction(
  driver: SiteDriver,
  input: VmActionInput,
  restorer?: SiteRestorer,
): Promise<VmActionResult> {
  if (input.restore) return restoredVmAction(input, input.restore, restorer);
  try {
    switch (input.action) {
      case 'prepareVm':
        return await prepareVm(driver, input);
      case 'startVm': {
        const info = await driver.inspectVm(input.vm);
        if (info.state === 'running') return { changed: false, detail: 'already running' };
        const r = await driver.startVm(input.vm);
        return { changed: !r.alreadyRunning, detail: r.alreadyRunning ? 'already running' : 'started' };
      }
      case 'stopVm': {
        const info = await inspectOrUndefined(driver, input.vm);
        if (!info || info.state === 'shut off') return { changed: false, detail: 'already off' };
        const r = await driver.shutdownVm(input.vm, { deadlineMs: input.shutdownDeadlineMs ?? 60_000 });
        return { changed: r.method !== 'already-off', detail: `stopped (${r.method})` };
      }
      case 'teardownVm': {
        const info = await inspectOrUndefined(driver, input.vm);
        if (!info) return { changed: false, detail: 'already gone' };
        if (info.state !== 'shut off') await driver.destroyVm(input.vm);
        if (info.persistent !== false) await driver.undefineVm(input.vm);
        return { changed: true, detail: 'torn down' };
      }
    }
  } catch (err) {
    throw toFailure(err);
  }
}

/**
 * Makes sure the VM exists at this site. Until recovery points exist (the replication work),
 * the site must already hold the VM's definition; restoring disks and defining it from a point
 * is where that work plugs in (and then this returns `changed: true` with a teardown to undo).
 */
async function prepareVm(driver: SiteDriver, input: VmActionInput): Promise<VmActionResult> {
  const info = await inspectOrUndefined(driver, input.vm);
  if (!info) {
    throw ApplicationFailure.create({
      type: 'VM_NOT_PREPARED',
      message: `VM ${input.vm} is not defined at site ${driver.site}`,
      nonRetryable: true,
      details: [{ site: driver.site, vm: input.vm, hint: 'replicate the VM to this site first' }],
    });
  }
  return { changed: false, detail: 'defined' };
}

/** The actions on a VM built from a point: its overlays, its transient domain, its removal. */
async function restoredVmAction(
  input: VmActionInput,
  r: NonNullable<VmActionInput['restore']>,
  restorer: SiteRestorer | undefined,
): Promise<VmActionResult> {
  if (!restorer) {
    throw ApplicationFailure.create({
      type: 'NO_REPLICA_STORE',
      message: `this site worker has no replica store to restore ${input.vm} from`,
      nonRetryable: true,
      details: [{ hint: 'start the site worker with replication configured (LIFEBOAT_REPLICATION_LISTEN)' }],
    });
  }
  const target = {
    operationId: input.operationId,
    purpose: r.purpose,
    runbook: r.runbook,
    vm: input.vm,
    pointId: r.pointId,
    network: input.networkName ?? '',
  };
  try {
    switch (input.action) {
      case 'prepareVm': {
        const p = await restorer.prepare(target);
        return { changed: p.created, detail: `${p.name}: overlays on point ${r.pointId}` };
      }
      case 'startVm': {
        const s = await restorer.start(target);
        return {
          changed: s.started,
          detail: `${s.name} ${s.started ? 'started' : 'already running'} on ${target.network}`,
        };
      }
      case 'stopVm':
      case 'teardownVm': {
        const t = await restorer.teardown(target);
        return { changed: t.removed, detail: t.detail };
      }
    }
  } catch (err) {
    throw toFailure(err);
  }
}

/** The VM as the site sees it, or undefined when it is not defined there. */
export async function inspectOrUndefined(driver: SiteDriver, vm: string): Promise<VmInfo | undefined> {
  try {
    return await driver.inspectVm(vm);
  } catch (err) {
    if (err instanceof VmNotFoundError) return undefined;
    throw err;
  }
}

/** Driver errors keep their class name as failure type; non-retryable ones stop retries. */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof RestoreError) return err.toFailure();
  if (isDriverError(err)) {
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !err.retryable,
      details: [err.toJSON()],
    });
  }
  return err;
}
