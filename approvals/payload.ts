/**
 * What an operator signs to decide a gate, and its one canonical byte form. The CLI signs these
 * bytes and the workflow verifies them, so both sides must produce exactly the same string.
 */
import { utf8Encode } from './encoding.ts';

export type GateDecision = 'approve' | 'reject';

export interface DecisionPayload {
  /** The workflow that holds the gate; a signature for one operation is useless on another. */
  workflowId: string;
  stepId: string;
  decision: GateDecision;
  reason: string;
  /** ISO-8601 UTC time of signing. */
  time: string;
}

/** A decision as sent in the Update: the payload, who signed it and the signature (base64). */
export interface SignedDecision {
  payload: DecisionPayload;
  operator: string;
  signature: string;
}

/** JSON with keys sorted at every level and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes that are signed: only the five fields, so extra fields cannot ride along. */
export function signingBytes(p: DecisionPayload): Uint8Array {
  const { workflowId, stepId, decision, reason, time } = p;
  return utf8Encode(canonicalJson({ workflowId, stepId, decision, reason, time }));
}
