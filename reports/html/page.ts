/**
 * One self-contained HTML page per report, rendered from the signed envelope alone (pure: no
 * I/O, no clock). Inline CSS, no script that runs, nothing fetched: the Content-Security-Policy
 * forbids every load, so a page opened from an auditor's mailbox makes no request.
 */
import { sha256Hex } from '../canonical.ts';
import { envelopeText, type ReportEnvelope } from '../envelope.ts';
import { embedBlock } from './embed.ts';
import { esc } from './escape.ts';
import { failbackSection } from './failback.ts';
import { failoverSection } from './failover.ts';
import {
  approvalsSection,
  cleanupSection,
  complianceSection,
  deviationsSection,
  isolationSection,
  signatureSection,
} from './proof.ts';
import {
  checksSection,
  groupsSection,
  objectivesSection,
  timelineSection,
  verdictSection,
} from './sections.ts';
import { PAGE_CSS } from './style.ts';

export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'";

export function pageHead(title: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}"><meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${PAGE_CSS}</style></head>`;
}

export function renderReportHtml(envelope: ReportEnvelope): string {
  const ev = envelope.evidence;
  const text = envelopeText(envelope);
  const title = `${ev.verdict === 'pass' ? 'PASS' : 'FAIL'}: ${ev.type} ${envelope.n} of ${ev.runbook.name} (Lifeboat report)`;
  return [
    pageHead(title),
    '<body><main>',
    verdictSection(ev),
    objectivesSection(ev),
    failoverSection(ev),
    failbackSection(ev),
    timelineSection(ev),
    groupsSection(ev),
    checksSection(ev),
    approvalsSection(ev),
    isolationSection(ev),
    cleanupSection(ev),
    deviationsSection(ev),
    complianceSection(),
    signatureSection(envelope, sha256Hex(text)),
    '</main>',
    embedBlock(text),
    '</body></html>\n',
  ].join('');
}
