import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseReportId } from '../../../reports/envelope.ts';
import type { Evidence } from '../../../reports/evidence.ts';
import { renderReportHtml } from '../../../reports/html/page.ts';
import { reportKeyFromSecret, type SignedReport, signReport } from '../../../reports/signing.ts';
import type { ReportInput } from '../../../reports/verify.ts';
import { drillEvidence } from '../../fixtures/reports/evidence.ts';

export const KEY = reportKeyFromSecret(new Uint8Array(32).fill(7));
export const OTHER_KEY = reportKeyFromSecret(new Uint8Array(32).fill(9));

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `lifeboat-${prefix}-`));
}

/** One report of any type under its evidence's id, signed in memory (no previous), with its page. */
export function signedPage(evidence: Evidence, key = KEY): SignedReport & { input: ReportInput } {
  const id = parseReportId(evidence.id);
  if (!id) throw new Error(`${evidence.id} is not a report id`);
  const { type, n } = id;
  const s = signReport({
    evidence,
    id,
    previous: null,
    key,
    signedAt: '2026-11-20T10:00:00.000Z',
  });
  const html = renderReportHtml(s.envelope);
  return {
    ...s,
    input: { file: `${type}-${n}.json`, text: s.text, html: { file: `${type}-${n}.html`, text: html } },
  };
}

/** Drills 1..count of runbook lab, signed and chained in memory, with their pages. */
export function chain(
  count: number,
  key = KEY,
  mutate: (ev: Evidence, n: number) => Evidence = (e) => e,
): Array<SignedReport & { input: ReportInput }> {
  const out: Array<SignedReport & { input: ReportInput }> = [];
  for (let n = 1; n <= count; n++) {
    const prev = out.at(-1);
    const s = signReport({
      evidence: mutate(drillEvidence(n), n),
      id: { runbook: 'lab', type: 'drill', n },
      previous: prev ? { id: prev.envelope.id, sha256: prev.sha256 } : null,
      key,
      signedAt: `2026-11-2${n}T10:00:00.000Z`,
    });
    const html = renderReportHtml(s.envelope);
    out.push({
      ...s,
      input: { file: `drill-${n}.json`, text: s.text, html: { file: `drill-${n}.html`, text: html } },
    });
  }
  return out;
}
