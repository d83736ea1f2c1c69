/**
 * Checks a signed gate decision. Pure and synchronous: it runs inside the workflow's Update
 * validator (the sandbox has no node:crypto, hence @noble/curves).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64ToBytes } from './encoding.ts';
import { type SignedDecision, signingBytes } from './payload.ts';

export const KEY_PREFIX = 'ed25519:';
/** How far a signature's time may lie outside the gate's open window (clock skew). */
export const DECISION_SKEW_MS = 5 * 60_000;

export type DecisionRefusalCode =
  | 'NO_SUCH_GATE'
  | 'WRONG_WORKFLOW'
  | 'NO_REASON'
  | 'UNKNOWN_OPERATOR'
  | 'WRONG_ROLE'
  | 'BAD_KEY'
  | 'BAD_SIGNATURE'
  | 'REPLAYED'
  | 'STALE';

export interface DecisionRefusal {
  code: DecisionRefusalCode;
  message: string;
  hint: string;
}

export interface GateContext {
  workflowId: string;
  stepId: string;
  role: string;
  /** When the gate opened and the current workflow time (ms since epoch). */
  openedAt: number;
  now: number;
  operators: Record<string, { key: string }>;
  roles: Record<string, string[]>;
  /** Signatures already accepted by this workflow. */
  seenSignatures: ReadonlySet<string>;
}

export function decodePublicKey(text: string): Uint8Array | undefined {
  if (!text.startsWith(KEY_PREFIX)) return undefined;
  const bytes = base64ToBytes(text.slice(KEY_PREFIX.length));
  return bytes?.length === 32 ? bytes : undefined;
}

/** Undefined when the decision may be accepted; otherwise why not. */
export function checkDecision(d: SignedDecision, gate: GateContext): DecisionRefusal | undefined {
  const p = d.payload;
  if (p.workflowId !== gate.workflowId) {
    return refuse('WRONG_WORKFLOW', `signed for ${p.workflowId}, not ${gate.workflowId}`, 'sign again');
  }
  if (p.stepId !== gate.stepId) {
    return refuse('NO_SUCH_GATE', `signed for step ${p.stepId}, not ${gate.stepId}`, 'sign again');
  }
  if (p.decision !== 'approve' && p.decision !== 'reject') {
    return refuse('BAD_SIGNATURE', `unknown decision ${String(p.decision)}`, 'approve or reject');
  }
  if (typeof p.reason !== 'string' || p.reason.trim() === '') {
    return refuse('NO_REASON', 'a decision needs a reason', 'pass --reason "why"');
  }
  const operator = gate.operators[d.operator];
  if (!operator) {
    return refuse('UNKNOWN_OPERATOR', `operator ${d.operator} is not in the runbook`, 'check operators');
  }
  const allowed = gate.roles[gate.role] ?? [];
  if (!allowed.includes(d.operator)) {
    return refuse(
      'WRONG_ROLE',
      `operator ${d.operator} does not hold role ${gate.role}`,
      `ask one of: ${allowed.join(', ') || '(nobody)'}`,
    );
  }
  const key = decodePublicKey(operator.key);
  if (!key) return refuse('BAD_KEY', `operator ${d.operator} has no valid ed25519 key`, 'fix the runbook');
  if (gate.seenSignatures.has(d.signature)) {
    return refuse('REPLAYED', 'this signature was already used', 'sign a fresh decision');
  }
  const sig = base64ToBytes(d.signature);
  let valid = false;
  try {
    // zip215: false is RFC 8032's strict rule: one message has one valid signature encoding.
    valid =
      sig !== undefined && sig.length === 64 && ed25519.verify(sig, signingBytes(p), key, { zip215: false });
  } catch {
    valid = false;
  }
  if (!valid) {
    return refuse('BAD_SIGNATURE', `signature does not verify for ${d.operator}`, 'check the key file');
  }
  const t = Date.parse(p.time);
  if (Number.isNaN(t) || t < gate.openedAt - DECISION_SKEW_MS || t > gate.now + DECISION_SKEW_MS) {
    return refuse('STALE', `signed at ${p.time}, outside the gate's window`, 'sign a fresh decision');
  }
  return undefined;
}

function refuse(code: DecisionRefusalCode, message: string, hint: string): DecisionRefusal {
  return { code, message, hint };
}
