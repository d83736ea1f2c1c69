/**
 * Groups paused by `onFailure: pause` in the operations' progress (workflows/types.ts PauseView),
 * for `lifeboat status`: what failed, since when, and who may decide. Pure, unit-tested.
 */
import type { OperationRow } from './operations.ts';

export interface PausedGroup {
  runbook: string | undefined;
  operation: string | undefined;
  /** The operation's workflow. */
  operationWorkflowId: string;
  /** The workflow holding the pause (the operation's, or its group child's). */
  workflowId: string;
  group: string;
  /** What a decision signs as its step id (`pause:<group>/<n>`). */
  stepId: string;
  error: string;
  since: string;
  /** Holding any of these roles lets an operator decide; `deciders` hold one. */
  roles: string[];
  deciders: string[];
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((a): a is string => typeof a === 'string') : [];
}

/** The pauses open in the operations' progress, oldest first; other shapes are left out. */
export function pausedGroups(rows: OperationRow[]): PausedGroup[] {
  const out: PausedGroup[] = [];
  for (const row of rows) {
    const pauses = (row.progress as { pauses?: unknown } | null | undefined)?.pauses;
    if (!Array.isArray(pauses)) continue;
    for (const p of pauses as Array<Record<string, unknown>>) {
      if (typeof p !== 'object' || p === null || typeof p.group !== 'string') continue;
      out.push({
        runbook: row.runbook,
        operation: row.operation,
        operationWorkflowId: row.workflowId,
        workflowId: typeof p.workflowId === 'string' ? p.workflowId : row.workflowId,
        group: p.group,
        stepId: typeof p.stepId === 'string' ? p.stepId : '',
        error: typeof p.error === 'string' ? p.error : '',
        since: typeof p.since === 'number' && Number.isFinite(p.since) ? new Date(p.since).toISOString() : '',
        roles: strings(p.roles),
        deciders: strings(p.deciders),
      });
    }
  }
  return out.sort((a, b) => a.since.localeCompare(b.since));
}

/** How long ago `iso` was, roughly: `42s`, `5m`, `2h03m`. */
export function timeAgo(iso: string, now: number): string {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The lines `lifeboat status` shows for paused groups, with the commands that decide them. */
export function renderPausedGroups(
  pauses: PausedGroup[],
  now: number,
  table: (rows: string[][]) => string,
): string {
  const header = ['RUNBOOK', 'OPERATION', 'GROUP', 'SINCE', 'DECIDERS', 'ERROR'];
  const rows = pauses.map((p) => [
    p.runbook ?? '-',
    p.operation ?? '-',
    p.group,
    p.since ? `${p.since.replace('T', ' ').slice(0, 19)} (${timeAgo(p.since, now)} ago)` : '-',
    p.deciders.length > 0 ? p.deciders.join(',') : `(nobody holds ${p.roles.join(' or ') || 'a role'})`,
    p.error,
  ]);
  const first = pauses[0] as PausedGroup;
  const rb = first.runbook ?? '<runbook>';
  return [
    `Groups paused:\n${table([header, ...rows])}`,
    `Decide: lifeboat retry|skip|rollback ${rb} --group ${first.group} --reason "..." (as one of the deciders)`,
  ].join('\n');
}
