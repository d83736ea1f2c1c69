/**
 * Drill reports: evidence rendered to one self-contained HTML page, signed with the
 * installation's Ed25519 report key and chained per runbook. The pure core (canonical form,
 * signing, rendering, verification) takes no I/O; `store.ts` and `key-store.ts` are the shell.
 *
 * The drill engine calls `publishReport(evidence, opts?)` once an operation's evidence is
 * persisted; it writes `<home>/reports/<runbook>/<type>-<n>.{json,html}`, `index.html` and
 * `head.json`, and returns `{ id, dir, jsonPath, htmlPath, sha256, previousSha256 }`. The
 * controller records `{ id, sha256 }` as the runbook's report head, which `verify` compares.
 */
export { canonical, canonicalPretty } from './canonical.ts';
export type { ReportEnvelope, ReportHeader, ReportId, ReportKeyRef, ReportLink } from './envelope.ts';
export {
  envelopeText,
  evidenceDigest,
  parseReportId,
  REPORT_RENDERER,
  reportIdText,
  signingBytes,
} from './envelope.ts';
export { ReportError, type ReportErrorCode } from './errors.ts';
export type { Evidence } from './evidence.ts';
export { evidenceSchema, parseEvidence } from './evidence.ts';
export { renderIndexHtml } from './html/history.ts';
export { renderReportHtml } from './html/page.ts';
export {
  loadOrCreateReportKey,
  parsePublicKeyArg,
  pinKey,
  readPinnedKey,
  reportKeyDir,
} from './key-store.ts';
export { type ReportKey, signatureProblem, signReport } from './signing.ts';
export type { PublishedReport, PublishOptions, StoredReport } from './store.ts';
export {
  listReports,
  publishReport,
  readReport,
  rebuildIndex,
  runbookReports,
  runbookReportsDir,
} from './store.ts';
export { drillStatus, type ReportSummary } from './summary.ts';
export type { ReportInput, VerifyCode, VerifyProblem, VerifyResult } from './verify.ts';
export { checkReport, verifyChain } from './verify.ts';
