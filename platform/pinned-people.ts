/**
 * `lifeboat status`'s "Who may decide" section: the operators, keys and roles each runbook's
 * controller pinned at its first operation, with their fingerprint and the signed changes since.
 */
import { administeringRoles } from '../approvals/people.ts';
import type { PinnedPeople, RunbookState } from '../workflows/types.ts';

export interface PinnedRow {
  runbook: string;
  people?: PinnedPeople;
}

/** Each runbook's pinned people, from its controller's state (absent: it did not answer). */
export function pinnedRows(runbooks: readonly string[], states: Map<string, RunbookState>): PinnedRow[] {
  return runbooks.map((runbook) => {
    const people = states.get(runbook)?.people;
    return people ? { runbook, people } : { runbook };
  });
}

export function renderPinnedPeople(rows: readonly PinnedRow[]): string {
  if (rows.length === 0) return 'Who may decide: no runbook';
  const lines = rows.flatMap((r) => {
    const p = r.people;
    if (!p) return [`  ${r.runbook}: nothing pinned yet (its first operation pins the Plan's people)`];
    const keys = Object.entries(p.operators).map(([name, o]) => `${name} ${o.key.slice(0, 20)}...`);
    const roles = Object.entries(p.roles).map(([role, members]) => `${role}: ${members.join(', ')}`);
    const last = p.changes.at(-1);
    return [
      `  ${r.runbook}: pinned ${p.fingerprint} at ${p.pinnedAt.replace('T', ' ').slice(0, 19)}`,
      `    operators: ${keys.join('; ') || '(none)'}`,
      `    roles: ${roles.join('; ') || '(none)'}`,
      `    changes signed by: ${administeringRoles(p).join(', ') || '(nobody)'}${p.administrators.length === 0 ? ' (every role: the runbook names no administrators)' : ''}`,
      ...(last ? [`    last change: ${last.diff.join('; ')} by ${last.operator} (${last.reason})`] : []),
    ];
  });
  return `Who may decide:\n${lines.join('\n')}`;
}
