/**
 * Signed gate approvals and pause decisions. `payload.ts` and `verify.ts` are pure and
 * sandbox-safe (workflows import them); `keys.ts` reads and writes operator key files and is for
 * the CLI only.
 */
export { holdersOf, pauseDeciderRoles, unfenceDeciderRoles } from './deciders.ts';
export { base64ToBytes, bytesToBase64, utf8Encode } from './encoding.ts';
export type {
  AnyDecisionPayload,
  AnySignedDecision,
  DecisionPayload,
  GateDecision,
  PauseChoice,
  SignedDecision,
} from './payload.ts';
export {
  canonicalJson,
  GATE_DECISIONS,
  PAUSE_CHOICES,
  PAUSE_STEP_PREFIX,
  pauseStepId,
  signingBytes,
  UNFENCE_STEP,
} from './payload.ts';
export type {
  DecisionRefusal,
  DecisionRefusalCode,
  GateContext,
  PauseContext,
  UnfenceContext,
} from './verify.ts';
export {
  checkDecision,
  checkPauseDecision,
  checkUnfenceDecision,
  DECISION_SKEW_MS,
  decodePublicKey,
  KEY_PREFIX,
  roleOf,
} from './verify.ts';
