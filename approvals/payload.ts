/**
 * What an operator signs to decide a gate or a paused group, and its one canonical byte form. The
 * CLI signs these bytes and the workflow verifies them, so both sides must produce exactly the
 * same string.
 */
import { utf8Encode } from './encoding.ts';

export type GateDecision = 'approve' | 'reject';

/** What to do with a group paused by `onFailure: pause`: run it again, skip it, roll back. */
export type PauseChoice = 'retry' | 'skip' | 'rollback';

/**
 * Operator decisions outside gates and pauses (approvals/verify.ts checkOperatorDecision): a
 * failover's commit or rollback, a cancel, a change of the pinned people, and the fence's and
 * divergent blocks' decisions.
 */
export type OperatorChoice =
  | 'commit'
  | 'rollback-failover'
  | 'cancel'
  | 'change-people'
  | 'unfence'
  | 'discard-divergent'
  | 'accept-dr-state';

export const GATE_DECISIONS: readonly GateDecision[] = ['approve', 'reject'];
export const PAUSE_CHOICES: readonly PauseChoice[] = ['retry', 'skip', 'rollback'];

/**
 * Pause step ids (`pause:<group>/<n>`, one slash) never equal a gate's (`<group>/before/<n>`, two
 * slashes; group names hold no slash), and the decision values of the two are disjoint.
 */
export const PAUSE_STEP_PREFIX = 'pause:';

/**
 * The step id a pause decision signs: the group and which of its pauses (1, 2, ...), so a
 * decision signed for one pause is useless on the group's next one, and on any gate.
 */
export function pauseStepId(group: string, occurrence: number): string {
  return `${PAUSE_STEP_PREFIX}${group}/${occurrence}`;
}

/** The step id a failover's commit or rollback signs (the workflow id is the operation's). */
export const COMMIT_STEP = 'commit';

/** The step id a cancel signs (the workflow id is the controller's): the operation it ends. */
export function cancelStepId(operationId: string): string {
  return `cancel:${operationId}`;
}

/** The step id accepting a site's DR-state record signs: which site, which version. */
export function acceptDrStateStepId(site: string, version: number): string {
  return `dr-state:${site}:v${version}`;
}

/** The step id an unfence decision signs (the workflow id names the runbook and the request). */
export const UNFENCE_STEP = 'unfence';

export interface DecisionPayload {
  /** The workflow that holds the gate; a signature for one operation is useless on another. */
  workflowId: string;
  /** A gate's step id, or a pause's (`pause:<group>/<n>`). */
  stepId: string;
  /** approve|reject for a gate, retry|skip|rollback for a pause; each side refuses the other's. */
  decision: GateDecision | PauseChoice | OperatorChoice;
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

/** Any signed payload: a gate's, a pause's, or an unfence (`decision: 'unfence'`, step UNFENCE_STEP). */
export type AnyDecisionPayload = Omit<DecisionPayload, 'decision'> & { decision: string };
export interface AnySignedDecision {
  payload: AnyDecisionPayload;
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
export function signingBytes(p: AnyDecisionPayload): Uint8Array {
  const { workflowId, stepId, decision, reason, time } = p;
  return utf8Encode(canonicalJson({ workflowId, stepId, decision, reason, time }));
}
