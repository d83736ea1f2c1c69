/** Signing and checking a report envelope with Ed25519. Pure: the key is passed in. */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64ToBytes, bytesToBase64 } from '../approvals/encoding.ts';
import { decodePublicKey } from '../approvals/verify.ts';
import { sha256Hex } from './canonical.ts';
import {
  envelopeText,
  evidenceDigest,
  REPORT_RENDERER,
  type ReportEnvelope,
  type ReportHeader,
  type ReportId,
  type ReportKeyRef,
  type ReportLink,
  reportIdText,
  signingBytes,
} from './envelope.ts';
import type { Evidence } from './evidence.ts';

export interface ReportKey {
  secretKey: Uint8Array;
  ref: ReportKeyRef;
}

export function keyFingerprint(publicKey: Uint8Array): string {
  return `sha256:${sha256Hex(publicKey)}`;
}

export function keyRef(publicKey: Uint8Array): ReportKeyRef {
  return { publicKey: `ed25519:${bytesToBase64(publicKey)}`, fingerprint: keyFingerprint(publicKey) };
}

export function reportKeyFromSecret(secretKey: Uint8Array): ReportKey {
  return { secretKey, ref: keyRef(ed25519.getPublicKey(secretKey)) };
}

export interface SignedReport {
  envelope: ReportEnvelope;
  /** The report file's exact text and its sha256 (what the next report links to). */
  text: string;
  sha256: string;
}

export function signReport(req: {
  evidence: Evidence;
  id: ReportId;
  previous: ReportLink | null;
  key: ReportKey;
  signedAt: string;
}): SignedReport {
  const header: ReportHeader = {
    apiVersion: 'lifeboat/v1',
    kind: 'Report',
    id: reportIdText(req.id),
    runbook: req.id.runbook,
    type: req.id.type,
    n: req.id.n,
    signedAt: req.signedAt,
    renderer: REPORT_RENDERER,
    previous: req.previous,
    key: req.key.ref,
    evidenceSha256: evidenceDigest(req.evidence),
  };
  const signature = bytesToBase64(ed25519.sign(signingBytes(header), req.key.secretKey));
  const envelope: ReportEnvelope = { ...header, signature, evidence: req.evidence };
  const text = envelopeText(envelope);
  return { envelope, text, sha256: sha256Hex(text) };
}

/** Why the envelope's signature does not hold, or undefined when it does. */
export function signatureProblem(envelope: ReportHeader & { signature: string }): string | undefined {
  const pub = decodePublicKey(envelope.key.publicKey);
  if (!pub) return 'its public key is not an ed25519 key';
  if (keyFingerprint(pub) !== envelope.key.fingerprint) return 'its key fingerprint does not match its key';
  const sig = base64ToBytes(envelope.signature);
  let valid = false;
  try {
    // zip215: false is RFC 8032's strict rule: one message has one valid signature encoding.
    valid = sig?.length === 64 && ed25519.verify(sig, signingBytes(envelope), pub, { zip215: false });
  } catch {
    valid = false;
  }
  return valid ? undefined : 'its signature does not verify';
}
