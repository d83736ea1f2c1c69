/**
 * The signed report envelope (`<home>/reports/<runbook>/<type>-<n>.json`): the evidence record
 * as the drill engine wrote it, the link to the runbook's previous report, the installation key
 * that signed it and the signature. Pure: no I/O.
 */
import { z } from 'zod';
import { canonical, canonicalPretty, sha256Hex } from './canonical.ts';
import { type Evidence, type EvidenceType, evidenceTypeSchema } from './evidence.ts';

/**
 * Which HTML renderer made the page; verify re-renders and compares only with one that draws it
 * the same. /2 added the failover section: /1 pages of drills and failbacks are unchanged.
 */
export const REPORT_RENDERER = 'lifeboat-report-html/2';

export interface ReportLink {
  id: string;
  sha256: string;
}

export interface ReportKeyRef {
  /** `ed25519:<base64>`, as operator keys are written. */
  publicKey: string;
  /** `sha256:<hex>` of the raw 32-byte public key. */
  fingerprint: string;
}

/** Everything the signature covers; `evidenceSha256` stands for the evidence itself. */
export interface ReportHeader {
  apiVersion: 'lifeboat/v1';
  kind: 'Report';
  id: string;
  runbook: string;
  type: EvidenceType;
  n: number;
  signedAt: string;
  renderer: string;
  /** The runbook's previous report (its id and the sha256 of its file), null for the first. */
  previous: ReportLink | null;
  key: ReportKeyRef;
  /** sha256 of the evidence's canonical JSON. */
  evidenceSha256: string;
}

export interface ReportEnvelope extends ReportHeader {
  /** base64 Ed25519 signature of `signingBytes(header)`. */
  signature: string;
  evidence: Evidence;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const linkSchema = z.strictObject({ id: z.string(), sha256: hex64 });

/** The envelope's own fields; the evidence is checked against reports/evidence.ts separately. */
export const envelopeShapeSchema = z.strictObject({
  apiVersion: z.literal('lifeboat/v1'),
  kind: z.literal('Report'),
  id: z.string(),
  runbook: z.string(),
  type: evidenceTypeSchema,
  n: z.number().int().positive(),
  signedAt: z.iso.datetime({ offset: true }),
  renderer: z.string(),
  previous: linkSchema.nullable(),
  key: z.strictObject({ publicKey: z.string(), fingerprint: z.string() }),
  evidenceSha256: hex64,
  signature: z.string(),
  evidence: z.record(z.string(), z.unknown()),
});

/**
 * The bytes a report's signature covers: the canonical JSON (keys sorted, no whitespace, UTF-8)
 * of every envelope field except `signature` and `evidence`. The evidence enters through
 * `evidenceSha256`, so the signature binds the evidence, the chain link, the key and the renderer.
 */
export function signingBytes(header: ReportHeader): Uint8Array {
  const fields: ReportHeader = {
    apiVersion: header.apiVersion,
    kind: header.kind,
    id: header.id,
    runbook: header.runbook,
    type: header.type,
    n: header.n,
    signedAt: header.signedAt,
    renderer: header.renderer,
    previous: header.previous,
    key: header.key,
    evidenceSha256: header.evidenceSha256,
  };
  return new TextEncoder().encode(canonical(fields));
}

export function evidenceDigest(evidence: unknown): string {
  return sha256Hex(canonical(evidence));
}

/** A report file's exact text. */
export function envelopeText(envelope: ReportEnvelope): string {
  return canonicalPretty(envelope);
}

export interface ReportId {
  runbook: string;
  type: EvidenceType;
  n: number;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function isSafeRunbookName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes('..');
}

/** `runbook/lab/drill/3` (an operation id) or `lab/drill/3`; undefined when neither. */
export function parseReportId(text: string): ReportId | undefined {
  const m = /^(?:runbook\/)?([^/]+)\/(drill|failover|failback)\/([1-9]\d{0,9})$/.exec(text);
  if (!m || !isSafeRunbookName(m[1] as string)) return undefined;
  return { runbook: m[1] as string, type: m[2] as EvidenceType, n: Number(m[3]) };
}

export function reportIdText(id: ReportId): string {
  return `runbook/${id.runbook}/${id.type}/${id.n}`;
}

/** `drill-3`: the file name of a report without its extension. */
export function reportBaseName(id: ReportId): string {
  return `${id.type}-${id.n}`;
}

/** `drill-3.json` → its parts; undefined for other files (the index, the head pointer). */
export function parseReportFileName(name: string): { type: EvidenceType; n: number } | undefined {
  const m = /^(drill|failover|failback)-([1-9]\d{0,9})\.json$/.exec(name);
  return m ? { type: m[1] as EvidenceType, n: Number(m[2]) } : undefined;
}
