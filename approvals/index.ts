/**
 * Signed approvals. `payload.ts` and `verify.ts` are pure and sandbox-safe (workflows import
 * them); `keys.ts` reads and writes operator key files and is for the CLI only.
 */
export { base64ToBytes, bytesToBase64, utf8Encode } from './encoding.ts';
export type { DecisionPayload, GateDecision, SignedDecision } from './payload.ts';
export { canonicalJson, signingBytes } from './payload.ts';
export type { DecisionRefusal, DecisionRefusalCode, GateContext } from './verify.ts';
export { checkDecision, DECISION_SKEW_MS, decodePublicKey, KEY_PREFIX } from './verify.ts';
