import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { hostPathOf, isLabSiteName } from '../../lab/config.ts';
import { readState } from '../../lab/state.ts';
import { controllerWorkflowId } from '../../platform/names.ts';
import { alignColumns } from '../../platform/text-table.ts';
import { type Manifest, pointAddedBytes, pointKind } from '../../replication/manifest.ts';
import { type ReversePoint, scanReversePoints } from '../../replication/reverse/points.ts';
import { ReplicaStore } from '../../replication/store.ts';
import { loadRunbook } from '../../runbooks/index.ts';
import type { Plan } from '../../runbooks/plan.ts';
import { runbookStateQuery } from '../../workflows/messages.ts';
import { ExitCode } from '../exit-codes.ts';
import { connectForCommand } from '../with-client.ts';

export interface PointRow {
  vm: string;
  id: string;
  time: string;
  ageSeconds: number;
  size: number;
  kind: 'full' | 'incremental';
  consistency: string;
  consistencyReason?: string;
  integrity: string;
  integrityDetail?: string;
  heldBy: string[];
  fullReason?: string;
}

/** Where the secondary keeps replicas as this machine sees them (the lab maps site paths). */
export function replicaRoot(plan: Plan): string {
  const inner = path.posix.join(plan.sites.secondary.storage, 'replicas');
  const site = plan.sites.secondary.name;
  if (isLabSiteName(site) && readState() !== undefined) return hostPathOf(site, inner);
  return inner;
}

/**
 * The runbook's replica store at the secondary, as this machine sees it, and the VMs asked for:
 * what `points` and `verify` read. Null (exit code set, said why) when the runbook has errors or
 * `--vm` names none of its VMs; a store not there yet is said, and is null only if `required`.
 */
export async function openRunbookStore(
  file: string,
  flags: { vm?: string; store?: string },
  required: boolean,
): Promise<{ plan: Plan; vms: string[]; root: string; store: ReplicaStore } | null> {
  const loaded = await loadRunbook(file);
  if (!loaded.plan) {
    process.stderr.write('lifeboat: the runbook has errors; run `lifeboat validate`\n');
    process.exitCode = ExitCode.failed;
    return null;
  }
  const plan = loaded.plan;
  const vms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
  if (flags.vm !== undefined && !vms.includes(flags.vm)) {
    process.stderr.write(`lifeboat: ${flags.vm} is not a VM of runbook ${plan.runbook.name}\n`);
    process.exitCode = ExitCode.usage;
    return null;
  }
  const root = flags.store ?? replicaRoot(plan);
  if (!existsSync(root)) {
    process.stderr.write(`lifeboat: no replica store at ${root}; no cycle has run yet, or pass --store\n`);
    if (required) {
      process.exitCode = ExitCode.failed;
      return null;
    }
  }
  return { plan, vms: flags.vm === undefined ? vms : [flags.vm], root, store: new ReplicaStore(root) };
}

export function pointRow(m: Manifest, held: Record<string, string[]>, now: number): PointRow {
  const kind = pointKind(m);
  const fullReason = m.disks.find((d) => d.fullReason !== undefined)?.fullReason;
  return {
    vm: m.vm,
    id: m.pointId,
    time: m.times.checkpointAt,
    ageSeconds: Math.max(0, Math.round((now - Date.parse(m.times.checkpointAt)) / 1000)),
    // What the point adds: boot files it shares with an older point by a hard link are not counted.
    size: pointAddedBytes(m),
    kind,
    consistency: m.consistency.achieved,
    ...(m.consistency.reason ? { consistencyReason: m.consistency.reason } : {}),
    integrity: m.integrity.state,
    ...(m.integrity.detail ? { integrityDetail: m.integrity.detail } : {}),
    heldBy: Object.entries(held)
      .filter(([, ids]) => ids.includes(m.pointId))
      .map(([op]) => op),
    ...(fullReason ? { fullReason } : {}),
  };
}

function age(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function size(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function renderPoints(rows: PointRow[], heldKnown: boolean): string {
  const head = ['VM', 'POINT', 'TIME', 'AGE', 'SIZE', 'KIND', 'CONSISTENCY', 'INTEGRITY', 'HELD BY'];
  const body = rows.map((r) => [
    r.vm,
    r.id,
    r.time,
    age(r.ageSeconds),
    size(r.size),
    r.kind,
    r.consistency,
    r.integrity,
    heldKnown ? r.heldBy.join(',') || '-' : '?',
  ]);
  const lines = alignColumns([head, ...body]);
  for (const r of rows) {
    if (r.consistencyReason) lines.push(`  ${r.id}: crash-consistent because ${r.consistencyReason}`);
    if (r.integrity === 'failed') lines.push(`  ${r.id}: verification failed: ${r.integrityDetail ?? ''}`);
  }
  if (!heldKnown) lines.push('(held by: the controller could not be asked)');
  return `${lines.join('\n')}\n`;
}

/** A reverse point kept at the old primary (after a failover, toward it), for the listing. */
export interface ReversePointRow {
  vm: string;
  site: string;
  seq: number;
  operationId: string;
  commonPointId: string | null;
  time: string;
  ageSeconds: number;
  /** Bytes the cycle wrote into the old primary's disks. */
  size: number;
  /** The newest is the old primary's disks as they are; older ones are reached by undo files. */
  newest: boolean;
}

/** Where the primary keeps reprotect's records as this machine sees them (the lab maps site paths). */
export function primaryStorageRoot(plan: Plan): string {
  const site = plan.sites.primary.name;
  const inner = plan.sites.primary.storage;
  if (isLabSiteName(site) && readState() !== undefined) return hostPathOf(site, inner);
  return inner;
}

export function reversePointRows(
  points: readonly ReversePoint[],
  site: string,
  now: number,
): ReversePointRow[] {
  return points.map((p, i) => ({
    vm: p.vm,
    site,
    seq: p.seq,
    operationId: p.operationId,
    commonPointId: p.commonPointId,
    time: p.takenAt,
    ageSeconds: Math.max(0, Math.round((now - Date.parse(p.takenAt)) / 1000)),
    size: p.disks.reduce((n, d) => n + d.bytes, 0),
    newest: i === points.length - 1,
  }));
}

export function renderReversePoints(rows: ReversePointRow[]): string {
  if (rows.length === 0) return '';
  const head = ['VM', 'REVERSE POINT', 'TIME', 'AGE', 'SIZE', 'FROM POINT', 'OPERATION'];
  const body = rows.map((r) => [
    r.vm,
    `${r.seq}${r.newest ? ' (disks)' : ''}`,
    r.time,
    age(r.ageSeconds),
    size(r.size),
    r.commonPointId ?? '-',
    r.operationId,
  ]);
  const sites = [...new Set(rows.map((r) => r.site))].join(', ');
  return `reverse points at ${sites} (the old primary; the newest is its disks):\n${alignColumns([head, ...body]).join('\n')}\n`;
}

/** Which points each operation holds, from the runbook's controller; null when unreachable. */
async function heldPoints(runbook: string): Promise<Record<string, string[]> | null> {
  let connected: Awaited<ReturnType<typeof connectForCommand>> | undefined;
  try {
    connected = await connectForCommand();
    const ask = connected.client.workflow.getHandle(controllerWorkflowId(runbook)).query(runbookStateQuery);
    // The points themselves are on disk here: a controller that does not answer costs only the
    // holder column, not the listing.
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref());
    const state = await Promise.race([ask, timeout]);
    return state === null ? null : state.heldPoints;
  } catch {
    return null;
  } finally {
    await connected?.connection.close().catch(() => undefined);
  }
}

/** `lifeboat points <runbook>`: the recovery points held at the secondary, per VM. */
export function registerPoints(program: Command): void {
  program
    .command('points')
    .description(
      'recovery points at the secondary: id, time, age, size, kind, consistency, integrity, holder; after a reprotect, the reverse points at the old primary',
    )
    .argument('<file>', 'runbook file')
    .option('--vm <name>', 'only this VM')
    .option('--json', 'machine-readable output')
    .option('--store <dir>', 'replica store directory (default: the secondary site storage + /replicas)')
    .action(async (file: string, flags: { vm?: string; json?: boolean; store?: string }) => {
      const opened = await openRunbookStore(file, flags, false);
      if (opened === null) return;
      const { plan, vms, root, store } = opened;
      const held = await heldPoints(plan.runbook.name);
      const now = Date.now();
      const rows: PointRow[] = [];
      const damaged: { vm: string; pointId: string; error: string }[] = [];
      const reverse: ReversePointRow[] = [];
      const home = primaryStorageRoot(plan);
      for (const vm of vms) {
        const scan = await store.scanPoints(vm);
        rows.push(...scan.points.map((m) => pointRow(m, held ?? {}, now)));
        damaged.push(...scan.damaged.map((d) => ({ vm, ...d })));
        // After a reprotect: the reverse cycles the old primary keeps, when its storage is here.
        const back = await scanReversePoints(home, vm).catch(() => ({ points: [] }));
        reverse.push(...reversePointRows(back.points, plan.sites.primary.name, now));
      }
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ store: root, points: rows, damaged, heldKnown: held !== null, reversePoints: reverse }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(renderPoints(rows, held !== null));
      process.stdout.write(renderReversePoints(reverse));
      for (const d of damaged) process.stdout.write(`  ${d.vm}/${d.pointId}: unreadable: ${d.error}\n`);
    });
}
