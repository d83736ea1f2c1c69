/**
 * Site activities that tidy up once a failback is committed (production runs at home again):
 *
 * - `failbackRemoveFailoverVm` (the secondary): the stopped VM the failover built there, and the
 *   overlays and serial log under `<storage>/restores/failover-<runbook>-<n>/<vm>/`. Left behind,
 *   the next failover would find the domain defined and start it on the old overlays.
 * - `failbackDropReprotectBitmaps` (the primary): the `lb-reprotect-*` dirty bitmaps reprotect
 *   added to the primary's disks, and its record of them. Protection runs home-to-away again, so
 *   nothing reads them; left enabled, every guest write would keep marking them. On a running VM
 *   through QMP, on a stopped one with qemu-img.
 *
 * Both observe first and act only on what is still there, so a retry after a crash finishes the
 * job without failing on what the first attempt already removed.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { SiteDriver } from '../drivers/types.ts';
import { runProcess } from '../replication/exec.ts';
import { diskBitmaps } from '../replication/export/offline.ts';
import { exists } from '../replication/fsutil.ts';
import { reverseRecordPath } from '../replication/reverse/cycle.ts';
import { reversePointsDir } from '../replication/reverse/points.ts';
import { inputName } from './input-paths.ts';
import { inspectOrUndefined } from './vm.ts';

/** The prefix of the bitmaps reprotect adds to the old primary's disks (activities/reprotect.ts). */
export const REPROTECT_BITMAP_PREFIX = 'lb-reprotect-';

export interface RemoveFailoverVmResult {
  vm: string;
  site: string;
  /** What went: `domain <name>` and each directory removed (empty: nothing was left). */
  removed: string[];
  detail: string;
}

export interface DropBitmapsResult {
  vm: string;
  site: string;
  removed: Array<{ target: string; bitmap: string }>;
}

/** The failover directories of `runbook` under `<storage>/restores` that hold `vm`. */
export async function failoverVmDirs(storage: string, runbook: string, vm: string): Promise<string[]> {
  const root = join(storage, 'restores');
  if (!(await exists(root))) return [];
  const own = new RegExp(`^failover-${runbook.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d+$`);
  const out: string[] = [];
  for (const name of (await readdir(root)).sort()) {
    if (!own.test(name)) continue;
    const dir = join(root, name, vm);
    if (await exists(dir)) out.push(dir);
  }
  return out;
}

interface NamedNode {
  'node-name'?: string;
  drv?: string;
  file?: string;
  'dirty-bitmaps'?: Array<{ name: string }>;
}

export function createFailbackActivities(deps: { driver: SiteDriver; storage: string }) {
  const { driver, storage } = deps;

  return {
    async failbackRemoveFailoverVm(input: {
      operationId: string;
      runbook: string;
      vm: string;
    }): Promise<RemoveFailoverVmResult> {
      inputName('runbook', input.runbook);
      inputName('vm', input.vm);
      const info = await inspectOrUndefined(driver, input.vm);
      if (info && info.state !== 'shut off') {
        throw ApplicationFailure.create({
          type: 'VM_RUNNING_AT_SECONDARY',
          message: `${input.vm} is ${info.state} at site ${driver.site}: the failback left it running, so it is not removed`,
          nonRetryable: true,
          details: [{ hint: 'stop it there (production runs at the primary), then fail back again' }],
        });
      }
      const removed: string[] = [];
      // Its overlays are found from the domain (before it goes) and by the failover's layout.
      const dirs = new Set(await failoverVmDirs(storage, input.runbook, input.vm));
      const root = `${join(storage, 'restores')}/`;
      for (const d of info?.disks ?? []) {
        const dir = d.source.replace(/\/[^/]+$/, '');
        if (dir.startsWith(root)) dirs.add(dir);
      }
      if (info) {
        const { removed: undefined_ } = await driver.undefineVm(input.vm);
        if (undefined_) removed.push(`domain ${input.vm}`);
      }
      for (const dir of [...dirs].sort()) {
        await rm(dir, { recursive: true, force: true });
        removed.push(dir);
        const opDir = join(dir, '..');
        if ((await exists(opDir)) && (await readdir(opDir)).length === 0)
          await rm(opDir, { recursive: true });
      }
      // The reverse cycles' record names those overlays: nothing counts from it any more.
      await rm(reverseRecordPath(storage, input.vm), { force: true });
      return {
        vm: input.vm,
        site: driver.site,
        removed,
        detail:
          removed.length === 0
            ? 'nothing left: no domain and no failover overlays'
            : `${info ? 'stopped failover VM undefined' : 'no domain'}; ${dirs.size} overlay director${dirs.size === 1 ? 'y' : 'ies'} removed`,
      };
    },

    async failbackDropReprotectBitmaps(input: { vm: string }): Promise<DropBitmapsResult> {
      inputName('vm', input.vm);
      const info = await driver.inspectVm(input.vm);
      const removed: DropBitmapsResult['removed'] = [];
      const disks = info.disks.filter((d) => d.device !== 'cdrom' && d.format === 'qcow2');
      if (info.state === 'shut off') {
        for (const d of disks) {
          for (const b of await diskBitmaps(d.source)) {
            if (!b.name.startsWith(REPROTECT_BITMAP_PREFIX)) continue;
            const r = await runProcess('qemu-img', ['bitmap', '--remove', d.source, b.name], {
              timeoutMs: 60_000,
            });
            if (r.exitCode !== 0) throw new Error(`qemu-img bitmap --remove ${b.name}: ${r.stderr.trim()}`);
            removed.push({ target: d.target, bitmap: b.name });
          }
        }
      } else {
        if (!driver.qmp) throw new Error(`site ${driver.site}'s driver cannot reach a running VM's monitor`);
        const nodes = (await driver.qmp(input.vm, 'query-named-block-nodes', { flat: true })) as NamedNode[];
        for (const d of disks) {
          // The disk's format node holds its persistent bitmaps (removing one removes it from the image).
          const node = nodes.find((n) => n.drv === 'qcow2' && n.file === d.source && n['node-name']);
          for (const b of node?.['dirty-bitmaps'] ?? []) {
            if (!b.name.startsWith(REPROTECT_BITMAP_PREFIX)) continue;
            await driver.qmp(input.vm, 'block-dirty-bitmap-remove', {
              node: node?.['node-name'],
              name: b.name,
            });
            removed.push({ target: d.target, bitmap: b.name });
          }
        }
      }
      // Reprotect's record of the bitmap goes with it: a later reprotect counts from its point.
      await rm(join(storage, 'reprotect', input.vm, 'reprotected.json'), { force: true });
      // The reverse points too: the VM writes its disks here again, so no undo file leads back.
      await rm(reversePointsDir(storage, input.vm), { recursive: true, force: true });
      return { vm: input.vm, site: driver.site, removed };
    },
  };
}

export type FailbackActivities = ReturnType<typeof createFailbackActivities>;

/** Every failback activity's name (the compiler keeps the list whole). */
export const FAILBACK_ACTIVITY_NAMES = Object.keys({
  failbackRemoveFailoverVm: true,
  failbackDropReprotectBitmaps: true,
} satisfies Record<keyof FailbackActivities, true>) as Array<keyof FailbackActivities>;
