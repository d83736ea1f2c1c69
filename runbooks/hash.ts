/**
 * A Plan's identity: sha256 of its canonical JSON (keys sorted, without `hash` and without
 * `runbook.source`: where a runbook was loaded from, and its comments, are not what it does). Pure JS (noble), so
 * the deterministic workflow sandbox can verify a Plan it receives, not only the CLI.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Plan } from './plan.ts';

/** JSON with object keys sorted at every level; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function planHash(plan: Omit<Plan, 'hash'> | Plan): string {
  const { hash: _hash, runbook, ...rest } = plan as Plan;
  const { source: _source, ...identity } = runbook;
  return bytesToHex(sha256(utf8ToBytes(canonicalJson({ ...rest, runbook: identity }))));
}

/** True when the Plan's `hash` matches its content. */
export function verifyPlanHash(plan: Plan): boolean {
  return plan.hash === planHash(plan);
}
