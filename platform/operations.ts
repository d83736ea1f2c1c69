import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { PROGRESS_QUERY_NAME, SEARCH_ATTRIBUTE_KEYS, SEARCH_ATTRIBUTES } from './names.ts';
import { type PausedGroup, pausedGroups, renderPausedGroups } from './pauses.ts';
import { alignColumns } from './text-table.ts';

/**
 * Operations in flight and recent, found through Lifeboat's search attributes (visibility), with
 * the progress each running workflow reports through its `progress` query when it has one.
 */
export interface OperationRow {
  workflowId: string;
  runId: string;
  workflowType: string;
  runbook: string | undefined;
  operation: string | undefined;
  state: string | undefined;
  site: string | undefined;
  status: string;
  startTime: string;
  closeTime: string | undefined;
  progress: unknown;
}

/** An approval gate an operation waits on, and who may open it (from the `progress` query). */
export interface WaitingGate {
  runbook: string | undefined;
  operation: string | undefined;
  /** The operation's workflow. */
  operationWorkflowId: string;
  /** The workflow holding the gate (the operation's, or its group child's). */
  workflowId: string;
  stepId: string;
  group: string;
  role: string;
  prompt: string;
  /** Operators holding the role in the runbook in force; only their signatures are accepted. */
  approvers: string[];
  openedAt: string;
  expiresAt: string;
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The visibility query for `lifeboat status` (pure, unit-tested). */
export function operationsQuery(opts: { runbook?: string; running: boolean }): string {
  const parts = [`${SEARCH_ATTRIBUTES.operation} IS NOT NULL`];
  if (opts.runbook) parts.push(`${SEARCH_ATTRIBUTES.runbook} = ${quote(opts.runbook)}`);
  parts.push(opts.running ? `ExecutionStatus = 'Running'` : `ExecutionStatus != 'Running'`);
  return parts.join(' AND ');
}

function toRow(info: WorkflowExecutionInfo): OperationRow {
  const sa = info.typedSearchAttributes;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    workflowType: info.type,
    runbook: sa.get(SEARCH_ATTRIBUTE_KEYS.runbook),
    operation: sa.get(SEARCH_ATTRIBUTE_KEYS.operation),
    state: sa.get(SEARCH_ATTRIBUTE_KEYS.state),
    site: sa.get(SEARCH_ATTRIBUTE_KEYS.site),
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString(),
    progress: undefined,
  };
}

async function progressOf(client: Client, row: OperationRow, timeoutMs: number): Promise<unknown> {
  try {
    return await client.connection.withDeadline(Date.now() + timeoutMs, () =>
      client.workflow.getHandle(row.workflowId, row.runId).query(PROGRESS_QUERY_NAME),
    );
  } catch {
    // No `progress` query on this workflow type, or no worker answering right now.
    return undefined;
  }
}

function isoTime(ms: unknown): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '';
}

/**
 * The gates open in the operations' progress (workflows/types.ts GateView), oldest first
 * (pure, unit-tested). Entries of another shape are left out rather than guessed at.
 */
export function waitingGates(rows: OperationRow[]): WaitingGate[] {
  const out: WaitingGate[] = [];
  for (const row of rows) {
    const gates = (row.progress as { gates?: unknown } | null | undefined)?.gates;
    if (!Array.isArray(gates)) continue;
    for (const g of gates as Array<Record<string, unknown>>) {
      if (typeof g !== 'object' || g === null) continue;
      if (typeof g.stepId !== 'string' || typeof g.role !== 'string') continue;
      out.push({
        runbook: row.runbook,
        operation: row.operation,
        operationWorkflowId: row.workflowId,
        workflowId: typeof g.workflowId === 'string' ? g.workflowId : row.workflowId,
        stepId: g.stepId,
        group: typeof g.group === 'string' ? g.group : '',
        role: g.role,
        prompt: typeof g.prompt === 'string' ? g.prompt : '',
        approvers: Array.isArray(g.approvers)
          ? g.approvers.filter((a): a is string => typeof a === 'string')
          : [],
        openedAt: isoTime(g.openedAt),
        expiresAt: isoTime(g.expiresAt),
      });
    }
  }
  return out.sort((a, b) => a.openedAt.localeCompare(b.openedAt));
}

export async function listOperations(
  client: Client,
  opts: { runbook?: string; recent?: number; queryTimeoutMs?: number } = {},
): Promise<{
  inFlight: OperationRow[];
  recent: OperationRow[];
  gates: WaitingGate[];
  pauses: PausedGroup[];
}> {
  const inFlight: OperationRow[] = [];
  for await (const info of client.workflow.list({ query: operationsQuery({ ...opts, running: true }) })) {
    inFlight.push(toRow(info));
  }
  const recent: OperationRow[] = [];
  const limit = opts.recent ?? 10;
  if (limit > 0) {
    for await (const info of client.workflow.list({
      query: operationsQuery({ ...opts, running: false }),
      pageSize: limit,
    })) {
      recent.push(toRow(info));
      if (recent.length >= limit) break;
    }
  }
  await Promise.all(
    inFlight.map(async (row) => {
      row.progress = await progressOf(client, row, opts.queryTimeoutMs ?? 3_000);
    }),
  );
  return { inFlight, recent, gates: waitingGates(inFlight), pauses: pausedGroups(inFlight) };
}

/** A short text for a progress answer whose shape the workflow defines. */
export function summarizeProgress(progress: unknown): string {
  if (progress === undefined || progress === null) return '-';
  if (typeof progress !== 'object') return String(progress);
  const p = progress as Record<string, unknown>;
  const bits: string[] = [];
  for (const k of ['phase', 'state', 'step', 'group']) if (typeof p[k] === 'string') bits.push(String(p[k]));
  if (typeof p.wave === 'number' && typeof p.waves === 'number') bits.push(`wave ${p.wave}/${p.waves}`);
  if (typeof p.done === 'number' && typeof p.total === 'number') bits.push(`${p.done}/${p.total}`);
  if (typeof p.percent === 'number') bits.push(`${Math.round(p.percent)}%`);
  if (Array.isArray(p.gates) && p.gates.length > 0) bits.push(`${p.gates.length} gate(s)`);
  if (Array.isArray(p.pauses) && p.pauses.length > 0) bits.push(`${p.pauses.length} paused`);
  if (bits.length > 0) return bits.join(' ');
  const text = JSON.stringify(progress);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function table(rows: string[][]): string {
  return alignColumns(rows).join('\n');
}

/** How long until `iso`, roughly, for a person: `in 9m`, `in 1h05m`, `expired`. */
export function timeLeft(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms)) return '-';
  if (ms <= 0) return 'expired';
  const m = Math.ceil(ms / 60_000);
  return m < 60 ? `in ${m}m` : `in ${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function renderGates(gates: WaitingGate[], now: number): string {
  const header = ['RUNBOOK', 'OPERATION', 'STEP', 'ROLE', 'APPROVERS', 'EXPIRES', 'PROMPT'];
  const rows = gates.map((g) => [
    g.runbook ?? '-',
    g.operation ?? '-',
    g.stepId,
    g.role,
    g.approvers.length > 0 ? g.approvers.join(',') : '(nobody holds the role)',
    g.expiresAt ? `${g.expiresAt.replace('T', ' ').slice(0, 19)} (${timeLeft(g.expiresAt, now)})` : '-',
    g.prompt,
  ]);
  const first = gates[0]!;
  return [
    `Gates waiting:\n${table([header, ...rows])}`,
    `Approve: lifeboat approve ${first.runbook ?? '<runbook>'} --step ${first.stepId} --reason "..." (as one of the approvers; reject likewise)`,
  ].join('\n');
}

/** The human rendering of `lifeboat status` (pure, unit-tested). */
export function renderOperations(
  result: { inFlight: OperationRow[]; recent: OperationRow[]; gates?: WaitingGate[]; pauses?: PausedGroup[] },
  now: number = Date.now(),
): string {
  const header = ['RUNBOOK', 'OPERATION', 'STATE', 'STATUS', 'STARTED', 'PROGRESS', 'WORKFLOW'];
  const line = (r: OperationRow) => [
    r.runbook ?? '-',
    r.operation ?? '-',
    r.state ?? '-',
    r.status.toLowerCase(),
    r.startTime.replace('T', ' ').slice(0, 19),
    summarizeProgress(r.progress),
    r.workflowId,
  ];
  const parts = [
    result.inFlight.length > 0
      ? `In flight:\n${table([header, ...result.inFlight.map(line)])}`
      : 'In flight: none',
    result.recent.length > 0 ? `Recent:\n${table([header, ...result.recent.map(line)])}` : 'Recent: none',
  ];
  // Pauses and gates come first: they are what a person has to act on.
  if (result.gates && result.gates.length > 0) parts.unshift(renderGates(result.gates, now));
  if (result.pauses && result.pauses.length > 0) parts.unshift(renderPausedGroups(result.pauses, now, table));
  return parts.join('\n\n');
}
