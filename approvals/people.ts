/**
 * The runbook's people (operators, their keys, roles, administering roles) as the controller pins
 * them, their fingerprint and what differs between two sets. Pure and sandbox-safe: the
 * controller's Update validator runs it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Plan } from '../runbooks/plan.ts';
import { canonicalJson } from './payload.ts';

export interface People {
  operators: Record<string, { key: string }>;
  roles: Record<string, string[]>;
  /** Roles whose operators may sign a change of this set; empty: every role. */
  administrators: string[];
}

/** The step id a people change signs: from which pinned set to which, so it cannot be replayed. */
export const PEOPLE_STEP_PREFIX = 'people:';

export function peopleOf(plan: Pick<Plan, 'operators' | 'roles' | 'administrators'>): People {
  const roles: Record<string, string[]> = {};
  for (const [role, members] of Object.entries(plan.roles ?? {})) roles[role] = [...members].sort();
  const operators: Record<string, { key: string }> = {};
  for (const [name, o] of Object.entries(plan.operators ?? {})) operators[name] = { key: o.key };
  return { operators, roles, administrators: [...(plan.administrators ?? [])].sort() };
}

/** `sha256:<hex>` of the set's canonical JSON (members sorted: their order means nothing). */
export function peopleFingerprint(p: People): string {
  return `sha256:${bytesToHex(sha256(utf8ToBytes(canonicalJson(p))))}`;
}

export function peopleChangeStepId(from: string, to: string): string {
  return `${PEOPLE_STEP_PREFIX}${from}->${to}`;
}

/** The roles whose holders may sign a change of `p`: its administrators, or else every role. */
export function administeringRoles(p: People): string[] {
  return p.administrators.length > 0 ? p.administrators : Object.keys(p.roles).sort();
}

/** What `to` changes in `from`, one line each (operators, keys, role members, administrators). */
export function peopleDiff(from: People, to: People): string[] {
  const out: string[] = [];
  const names = [...new Set([...Object.keys(from.operators), ...Object.keys(to.operators)])].sort();
  for (const n of names) {
    const a = from.operators[n]?.key;
    const b = to.operators[n]?.key;
    if (a === undefined) out.push(`operator ${n} added`);
    else if (b === undefined) out.push(`operator ${n} removed`);
    else if (a !== b) out.push(`operator ${n}'s key changed`);
  }
  const roles = [...new Set([...Object.keys(from.roles), ...Object.keys(to.roles)])].sort();
  for (const r of roles) {
    const a = from.roles[r] ?? [];
    const b = to.roles[r] ?? [];
    for (const m of b) if (!a.includes(m)) out.push(`role ${r} gains ${m}`);
    for (const m of a) if (!b.includes(m)) out.push(`role ${r} loses ${m}`);
  }
  if (canonicalJson(from.administrators) !== canonicalJson(to.administrators)) {
    out.push(
      `administrators ${from.administrators.join(', ') || '(every role)'} -> ${to.administrators.join(', ') || '(every role)'}`,
    );
  }
  return out;
}
