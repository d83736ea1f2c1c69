/**
 * Signed gate approvals and pause decisions. `payload.ts` and `verify.ts` are pure and
 * sandbox-safe (workflows import them); `keys.ts` reads and writes operator key files and is for
 * the CLI only.
 */
export { approverRoles, holdersOf, pauseDeciderRoles } from './deciders.ts';
export { base64ToBytes, bytesToBase64, utf8Encode } from './encoding.ts';
export type {
  AnyDecisionPayload,
  AnySignedDecision,
  DecisionPayload,
  GateDecision,
  OperatorChoice,
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
export type { People } from './people.ts';
export {
  administeringRoles,
  PEOPLE_STEP_PREFIX,
  peopleChangeStepId,
  peopleDiff,
  peopleFingerprint,
  peopleOf,
} from './people.ts';
export type {
  DecisionRefusal,
  DecisionRefusalCode,
  GateContext,
  OperatorDecisionContext,
  PauseContext,
  PauseContext,
  UnfenceContext,
} from './verify.ts';
export {
  checkDecision,
  checkOperatorDecision,
  checkPauseDecision,
  checkUnfenceDecision,
  DECISION_SKEW_MS,
  decodePublicKey,
  KEY_PREFIX,
  roleOf,
} from './verify.ts';
