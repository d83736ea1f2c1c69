/**
 * Checks a signed gate or pause decision. Pure and synchronous: it runs inside the workflow's
 * Update validator (the sandbox has no node:crypto, hence @noble/curves).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { holdersOf } from './deciders.ts';
import { base64ToBytes } from './encoding.ts';
import {
  type AnySignedDecision,
  GATE_DECISIONS,
  PAUSE_CHOICES,
  type SignedDecision,
  signingBytes,
} from './payload.ts';

export const KEY_PREFIX = 'ed25519:';
/** How far a signature's time may lie outside the gate's open window (clock skew). */
export const DECISION_SKEW_MS = 5 * 60_000;

export type DecisionRefusalCode =
  | 'NO_SUCH_GATE'
  | 'NOT_PAUSED'
  | 'WRONG_WORKFLOW'
  | 'BAD_DECISION'
  | 'NO_REASON'
  | 'UNKNOWN_OPERATOR'
  | 'WRONG_ROLE'
  | 'BAD_KEY'
  | 'BAD_SIGNATURE'
  | 'REPLAYED'
  | 'STALE'
  | 'WRONG_STEP';

export interface DecisionRefusal {
  code: DecisionRefusalCode;
  message: string;
  hint: string;
}

/** What a decision is checked against, apart from what it decides: the runbook's people. */
export interface SignerContext {
  workflowId: string;
  stepId: string;
  /** The current workflow time (ms since epoch). */
  now: number;
  operators: Record<string, { key: string }>;
  roles: Record<string, string[]>;
  /** Signatures already accepted by this workflow. */
  seenSignatures: ReadonlySet<string>;
}

export interface GateContext extends SignerContext {
  role: string;
  /** When the gate opened (ms since epoch). */
  openedAt: number;
}

export interface PauseContext extends SignerContext {
  /** Holding any one of these roles lets an operator decide the pause. */
  deciderRoles: readonly string[];
  /** When the group paused (ms since epoch). */
  since: number;
}

export function decodePublicKey(text: string): Uint8Array | undefined {
  if (!text.startsWith(KEY_PREFIX)) return undefined;
  const bytes = base64ToBytes(text.slice(KEY_PREFIX.length));
  return bytes?.length === 32 ? bytes : undefined;
}

/** The first of `eligible` that `operator` holds in the runbook, if any. */
export function roleOf(
  operator: string,
  eligible: readonly string[],
  roles: Record<string, string[]>,
): string | undefined {
  return eligible.find((r) => (roles[r] ?? []).includes(operator));
}

/** Undefined when the gate decision may be accepted; otherwise why not. */
export function checkDecision(d: SignedDecision, gate: GateContext): DecisionRefusal | undefined {
  // Unknown decisions keep the code they always had (BAD_SIGNATURE): callers match on it.
  return checkSigned(d, gate, {
    decisions: GATE_DECISIONS,
    badDecision: 'BAD_SIGNATURE',
    wrongStep: 'NO_SUCH_GATE',
    eligible: [gate.role],
    openedAt: gate.openedAt,
    what: 'gate',
  });
}

/** Undefined when the pause decision may be accepted; otherwise why not. */
export function checkPauseDecision(d: SignedDecision, pause: PauseContext): DecisionRefusal | undefined {
  return checkSigned(d, pause, {
    decisions: PAUSE_CHOICES,
    badDecision: 'BAD_DECISION',
    wrongStep: 'NOT_PAUSED',
    eligible: pause.deciderRoles,
    openedAt: pause.since,
    what: 'pause',
  });
}

/**
 * A decision that is neither a gate's nor a pause's: commit, rollback-failover, cancel, a change
 * of the pinned people, unfence, discard-divergent. The caller names what may be decided, by
 * which roles, and since when; the signature, the role and the freshness are checked as for gates.
 */
export interface OperatorDecisionContext extends SignerContext {
  /** The decision values this step accepts. */
  decisions: readonly string[];
  /** Holding any one of these roles lets an operator decide. */
  eligible: readonly string[];
  /** When the decision became possible (ms since epoch): older signatures are stale. */
  since: number;
  /** What is decided, for messages ("commit", "people change"). */
  what: string;
}

/** Undefined when the operator decision may be accepted; otherwise why not. */
export function checkOperatorDecision(
  d: AnySignedDecision,
  ctx: OperatorDecisionContext,
): DecisionRefusal | undefined {
  return checkSigned(d, ctx, {
    decisions: ctx.decisions,
    badDecision: 'BAD_DECISION',
    wrongStep: 'WRONG_STEP',
    eligible: ctx.eligible,
    openedAt: ctx.since,
    what: ctx.what,
  });
}

export interface UnfenceContext extends SignerContext {
  deciderRoles: readonly string[];
  /** When the unfence was asked for (ms since epoch). */
  requestedAt: number;
}

/** Undefined when the signed unfence may be carried out; otherwise why not. */
export function checkUnfenceDecision(d: AnySignedDecision, ctx: UnfenceContext): DecisionRefusal | undefined {
  return checkOperatorDecision(d, {
    ...ctx,
    decisions: ['unfence'],
    eligible: ctx.deciderRoles,
    since: ctx.requestedAt,
    what: 'unfence',
  });
}

function checkSigned(
  d: AnySignedDecision,
  ctx: SignerContext,
  o: {
    decisions: readonly string[];
    badDecision: DecisionRefusalCode;
    wrongStep: DecisionRefusalCode;
    eligible: readonly string[];
    openedAt: number;
    what: string;
  },
): DecisionRefusal | undefined {
  const p = d.payload;
  if (p.workflowId !== ctx.workflowId) {
    return refuse('WRONG_WORKFLOW', `signed for ${p.workflowId}, not ${ctx.workflowId}`, 'sign again');
  }
  if (p.stepId !== ctx.stepId) {
    return refuse(o.wrongStep, `signed for step ${String(p.stepId)}, not ${ctx.stepId}`, 'sign again');
  }
  if (!o.decisions.includes(p.decision as string)) {
    return refuse(
      o.badDecision,
      `unknown ${o.what} decision ${String(p.decision)}`,
      o.decisions.join(' or '),
    );
  }
  if (typeof p.reason !== 'string' || p.reason.trim() === '') {
    return refuse('NO_REASON', 'a decision needs a reason', 'pass --reason "why"');
  }
  const operator = ctx.operators[d.operator];
  if (!operator) {
    return refuse('UNKNOWN_OPERATOR', `operator ${d.operator} is not in the runbook`, 'check operators');
  }
  if (!roleOf(d.operator, o.eligible, ctx.roles)) {
    const allowed = holdersOf(o.eligible, ctx.roles);
    return refuse(
      'WRONG_ROLE',
      `operator ${d.operator} does not hold role ${o.eligible.join(' or ') || '(none)'}`,
      `ask one of: ${allowed.join(', ') || '(nobody)'}`,
    );
  }
  const key = decodePublicKey(operator.key);
  if (!key) return refuse('BAD_KEY', `operator ${d.operator} has no valid ed25519 key`, 'fix the runbook');
  if (ctx.seenSignatures.has(d.signature)) {
    return refuse('REPLAYED', 'this signature was already used', 'sign a fresh decision');
  }
  const sig = typeof d.signature === 'string' ? base64ToBytes(d.signature) : undefined;
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
  if (Number.isNaN(t) || t < o.openedAt - DECISION_SKEW_MS || t > ctx.now + DECISION_SKEW_MS) {
    return refuse('STALE', `signed at ${p.time}, outside the ${o.what}'s window`, 'sign a fresh decision');
  }
  return undefined;
}

function refuse(code: DecisionRefusalCode, message: string, hint: string): DecisionRefusal {
  return { code, message, hint };
}
