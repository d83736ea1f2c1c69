/**
 * What `lifeboat drill|failover|failback --wait` shows while it waits (pure, unit-tested): an
 * operation's progress snapshot as lines to redraw on a terminal, the changes between two
 * snapshots as one-line events for logs and pipes, and the outcome at the end.
 */
import { dirname } from 'node:path';
import type {
  GateView,
  GroupProgress,
  OperationProgress,
  OperationResult,
  PauseView,
} from '../workflows/types.ts';

/** A duration for a person: `0.4s`, `12.3s`, `2m05s`, `1h02m`. */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '0.0s';
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function span(start: number | undefined, end: number | undefined, now: number): string {
  return start === undefined ? '' : formatElapsed((end ?? now) - start);
}

/** The command line that approves `gate` (reject likewise). */
export function approveCommand(runbook: string, gate: GateView): string {
  return `lifeboat approve ${runbook} --step ${gate.stepId} --reason "..."`;
}

/** The command lines that decide a paused group. */
export function pauseCommands(runbook: string, pause: PauseView): string[] {
  return (['retry', 'skip', 'rollback'] as const).map(
    (c) => `lifeboat ${c} ${runbook} --group ${pause.group} --reason "..."`,
  );
}

function who(names: readonly string[] | undefined): string {
  return names && names.length > 0 ? names.join(', ') : 'nobody holds the role';
}

function groupLine(g: GroupProgress, now: number): string {
  const bits = [g.name, g.state];
  if (g.step && (g.state === 'running' || g.state === 'waiting-approval')) bits.push(`step ${g.step}`);
  const t = span(g.startedAt, g.endedAt, now);
  if (t) bits.push(t);
  return bits.join('  ');
}

/** The whole view, redrawn in place on a terminal. */
export function renderProgress(p: OperationProgress, now: number): string[] {
  const lines = [
    `${p.kind} ${p.id}  ${p.state}  wave ${Math.min(p.wave + 1, p.waves)}/${p.waves}  ${span(p.startedAt, p.endedAt, now)}`,
  ];
  const groups = Object.values(p.groups);
  for (let w = 0; w < p.waves; w++) {
    lines.push(`wave ${w + 1}`);
    for (const g of groups.filter((x) => x.wave === w)) {
      lines.push(`  ${groupLine(g, now)}`);
      for (const [vm, v] of Object.entries(g.vms)) {
        const t = span(v.startedAt, v.endedAt, now);
        lines.push(`    ${[vm, v.action ?? '', v.state, t].filter(Boolean).join('  ')}`);
      }
      if (g.error && g.state !== 'paused') lines.push(`    error: ${g.error}`);
    }
  }
  if (p.gates.length > 0) {
    lines.push('Gates waiting:');
    for (const g of p.gates) {
      lines.push(
        `  ${g.stepId}  ${g.prompt}  role ${g.role} (${who(g.approvers)})  expires in ${formatElapsed(g.expiresAt - now)}`,
      );
      lines.push(`    ${approveCommand(p.runbook, g)}`);
    }
  }
  if (p.pauses.length > 0) {
    lines.push('Groups paused:');
    for (const x of p.pauses) {
      lines.push(`  ${x.group}  paused ${formatElapsed(now - x.since)} ago  deciders: ${who(x.deciders)}`);
      lines.push(`    error: ${x.error}`);
      for (const c of pauseCommands(p.runbook, x)) lines.push(`    ${c}`);
    }
  }
  const c = p.compensations;
  if (p.state === 'rolling-back' || c.done > 0) lines.push(`undo: ${c.done}/${c.pending} done`);
  if (p.placement) lines.push(p.placement);
  return lines;
}

/**
 * What changed from `prev` to `next`, one line each, stamped with the time since the operation
 * started (e.g. `12.3s database db-1 startVm done`); everything that is there when `prev` is
 * undefined.
 */
export function progressEvents(
  prev: OperationProgress | undefined,
  next: OperationProgress,
  now: number,
): string[] {
  const t = formatElapsed(now - next.startedAt);
  const out: string[] = [];
  const say = (text: string) => out.push(`${t} ${text}`);
  if (prev?.state !== next.state) say(`${next.kind} ${next.id} ${next.state}`);
  if (next.placement && prev?.placement !== next.placement) say(next.placement);
  if (prev?.wave !== next.wave && next.waves > 0)
    say(`wave ${Math.min(next.wave + 1, next.waves)}/${next.waves}`);
  for (const g of Object.values(next.groups)) {
    const before = prev?.groups[g.name];
    if (before?.state !== g.state && !(before === undefined && g.state === 'pending')) {
      const took = g.endedAt !== undefined ? ` (${span(g.startedAt, g.endedAt, now)})` : '';
      const why = g.error && (g.state === 'failed' || g.state === 'continued') ? `: ${g.error}` : '';
      say(`${g.name} ${g.state}${took}${why}`);
    }
    if (g.step && before?.step !== g.step && g.state !== 'pending') say(`${g.name} step ${g.step}`);
    for (const [vm, v] of Object.entries(g.vms)) {
      const b = before?.vms[vm];
      if (b?.action === v.action && b?.state === v.state) continue;
      const took =
        v.state === 'done' || v.state === 'failed' ? ` (${span(v.startedAt, v.endedAt, now)})` : '';
      say([g.name, vm, v.action, `${v.state}${took}`].filter(Boolean).join(' '));
    }
  }
  const gateIds = new Set((prev?.gates ?? []).map((g) => `${g.workflowId} ${g.stepId}`));
  for (const g of next.gates) {
    if (gateIds.has(`${g.workflowId} ${g.stepId}`)) continue;
    say(`gate ${g.stepId} waits for ${g.role} (${who(g.approvers)}): ${approveCommand(next.runbook, g)}`);
  }
  const pauseIds = new Set((prev?.pauses ?? []).map((x) => `${x.workflowId} ${x.stepId}`));
  for (const x of next.pauses) {
    if (pauseIds.has(`${x.workflowId} ${x.stepId}`)) continue;
    say(`${x.group} paused: ${x.error}`);
    say(
      `${x.group} deciders: ${who(x.deciders)}; lifeboat retry|skip|rollback ${next.runbook} --group ${x.group} --reason "..."`,
    );
  }
  const seen = new Set((prev?.decisions ?? []).map((d) => d.signature));
  for (const d of next.decisions) {
    if (seen.has(d.signature)) continue;
    say(`${d.stepId} ${d.decision} by ${d.operator} (${d.role}): ${d.reason}`);
  }
  const c = next.compensations;
  if (c.done !== (prev?.compensations.done ?? 0)) say(`undo ${c.done}/${c.pending} done`);
  return out;
}

type Objective = NonNullable<OperationResult['rto']>;

function objectiveLine(name: string, o: Objective | undefined): string | undefined {
  if (!o) return undefined;
  const measured = o.measuredMs === undefined ? 'not measured' : formatElapsed(o.measuredMs);
  const target = ` (target ${formatElapsed(o.targetMs)})`;
  const pass = o.pass === true ? ': pass' : o.pass === false ? ': fail' : '';
  return `${name}: ${measured}${target}${pass}`;
}

/** The outcome line as before, then the verdict, objectives and evidence when the result has them. */
export function renderOutcome(r: OperationResult): string[] {
  const lines = [`${r.id}: ${r.outcome}${r.error ? ` (${r.error})` : ''}`];
  if (r.verdict) lines.push(`verdict: ${r.verdict.toUpperCase()}`);
  for (const why of r.verdictReasons ?? []) lines.push(`  - ${why}`);
  for (const l of [objectiveLine('RTO', r.rto), objectiveLine('RPO', r.rpo)]) if (l) lines.push(l);
  if (r.evidencePath) lines.push(`evidence: ${r.evidencePath}`);
  if (r.report) {
    lines.push(`report: ${r.report.htmlPath}`);
    lines.push(`verify it: lifeboat report verify ${dirname(r.report.htmlPath)}`);
  }
  return lines;
}
