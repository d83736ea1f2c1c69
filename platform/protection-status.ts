/**
 * The "Protection" section of `lifeboat status` (pure render): per runbook whether its Schedules
 * run, the next cycle, the RPO objective against the newest committed cycle, the last drill and
 * its verdict, and a drill overdue (no drill ended within `drill.every`).
 */

import type { RunbookState } from '../workflows/types.ts';
import type { LatestDrill } from './latest-drills.ts';
import type { ProtectionView } from './protection.ts';

export interface ProtectionRow {
  runbook: string;
  view: ProtectionView;
  drill?: LatestDrill['drill'];
  /** When the controller last saw every VM commit a point (`protectedAt`). */
  protectedAt?: string;
  rpoObjectiveMs?: number;
  /** The controller's fence (a failover's), and whether the fenced site's worker enforced it. */
  fence?: RunbookState['fence'];
}

export interface ProtectionStatus extends ProtectionRow {
  drillOverdue: boolean;
  /** Seconds since every VM last had a point, when known (the runbook-wide RPO now). */
  rpoSeconds?: number;
  rpoBreach?: boolean;
  /** No cycle has committed every VM yet: the RPO counts from when protection started. */
  sinceProtected?: boolean;
  /** When the drill counts overdue from (the last drill's end, else when protection started). */
  drillDueFrom?: string;
}

export function judgeProtection(row: ProtectionRow, now: number): ProtectionStatus {
  const everyMs = row.view.drill?.everyMs;
  // Never drilled: overdue once drill.every has passed since protection started.
  const dueFrom = row.drill?.endedAt ?? row.view.since;
  const drillOverdue =
    row.view.protected &&
    everyMs !== undefined &&
    dueFrom !== undefined &&
    now - Date.parse(dueFrom) > everyMs;
  const out: ProtectionStatus = { ...row, drillOverdue, ...(dueFrom ? { drillDueFrom: dueFrom } : {}) };
  const from = row.protectedAt ?? (row.view.protected ? row.view.since : undefined);
  if (from) {
    out.rpoSeconds = Math.max(0, Math.round((now - Date.parse(from)) / 1000));
    if (!row.protectedAt) out.sinceProtected = true;
    if (row.rpoObjectiveMs !== undefined) out.rpoBreach = out.rpoSeconds * 1000 > row.rpoObjectiveMs;
  }
  return out;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const time = (iso: string) => iso.replace('T', ' ').slice(0, 19);

/** Who fenced which site and why, and whether that site's own worker has enforced it yet. */
export function fenceLine(f: NonNullable<RunbookState['fence']>): string {
  const by = f.by ? ` by ${f.by}` : '';
  const enforced = f.enforced
    ? `enforced at ${f.enforced.site} ${time(f.enforced.at)} (${f.enforced.vms.map((v) => `${v.vm} ${v.detail}`).join(', ')})`
    : 'not enforced by the site yet (its worker does when it is back)';
  return `fence: ${f.site}${by} since ${time(f.since)}, ${f.reason}; ${enforced}`;
}

export function renderProtection(rows: readonly ProtectionStatus[], now: number): string {
  if (rows.length === 0) return 'Protection: no runbook is protected (`lifeboat protect <runbook>`)';
  const lines: string[] = [];
  for (const r of rows) {
    const v = r.view;
    if (!v.protected) {
      lines.push(`  ${r.runbook}: not protected`);
      continue;
    }
    const state = v.paused ? `PAUSED (${v.note ?? 'no reason given'})` : 'protected';
    const every = v.replication ? `, replication every ${duration(v.replication.everyMs)}` : '';
    const next = v.replication?.nextAt && !v.paused ? `, next cycle ${time(v.replication.nextAt)}` : '';
    lines.push(`  ${r.runbook}: ${state}${every}${next}`);
    const skipped = v.replication?.skippedOverlap;
    if (skipped && v.replication) {
      const running = v.replication.runningSince
        ? `; the run going now started ${duration(now - Date.parse(v.replication.runningSince))} ago`
        : '';
      lines.push(
        `    ${skipped} scheduled cycle${skipped > 1 ? 's' : ''} skipped: a cycle took longer than every ${duration(v.replication.everyMs)} (one waits, none stacked${running})`,
      );
    }
    if (r.sinceProtected && r.rpoSeconds !== undefined) {
      const objective = r.rpoObjectiveMs !== undefined ? ` (objective ${duration(r.rpoObjectiveMs)})` : '';
      lines.push(
        `    no cycle has committed every VM yet, protected for ${duration(r.rpoSeconds * 1000)}${objective}${r.rpoBreach ? ': RPO BREACH' : ''}`,
      );
    } else if (r.rpoSeconds !== undefined) {
      const objective = r.rpoObjectiveMs !== undefined ? ` (objective ${duration(r.rpoObjectiveMs)})` : '';
      lines.push(
        `    newest complete cycle ${duration(r.rpoSeconds * 1000)} old${objective}${r.rpoBreach ? ': RPO BREACH' : ''}` +
          ' (per VM: `lifeboat points`, metric lifeboat_rpo_seconds)',
      );
    } else lines.push('    no cycle has committed every VM yet');
    if (v.drill) {
      const last = r.drill
        ? `last ${r.drill.verdict ? r.drill.verdict.toUpperCase() : r.drill.outcome} ${r.drill.id} ${time(r.drill.endedAt)}`
        : 'no drill yet';
      const overdue = r.drillOverdue
        ? `: DRILL OVERDUE by ${duration(now - Date.parse(r.drillDueFrom ?? '') - v.drill.everyMs)}`
        : '';
      const drillPaused = v.drill.paused && !v.paused;
      const nextDrill = v.drill.nextAt && !v.paused && !drillPaused ? `, next ${time(v.drill.nextAt)}` : '';
      const pausedDrill = drillPaused ? `, PAUSED (${v.drill.note ?? 'no reason given'})` : '';
      lines.push(
        `    drills every ${duration(v.drill.everyMs)}, ${last}${nextDrill}${pausedDrill}${overdue}`,
      );
    }
    if (v.reverse) {
      const how = v.reverse.paused
        ? `PAUSED (${v.reverse.note ?? 'no reason given'})`
        : `every ${duration(v.reverse.everyMs)}${v.reverse.nextAt ? `, next ${time(v.reverse.nextAt)}` : ''}`;
      const last = v.reverse.lastAt ? `, last ${time(v.reverse.lastAt)}` : '';
      lines.push(
        `    reverse cycles (active secondary toward the old primary, until failback): ${how}${last}`,
      );
    }
    if (r.fence) lines.push(`    ${fenceLine(r.fence)}`);
  }
  return `Protection:\n${lines.join('\n')}`;
}
