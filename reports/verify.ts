/**
 * Verifies a runbook's reports: each file is byte for byte the canonical text of an envelope
 * whose evidence matches its digest and whose signature holds under the trusted key; the files
 * form one unbroken chain; the newest is the head the controller recorded (when known); each
 * page embeds exactly its signed file and shows what that file renders to. Pure: the caller
 * reads the files. Problems come in chain order, so the first one is the first broken link.
 */
import { sha256Hex, sortKeys } from './canonical.ts';
import {
  envelopeShapeSchema,
  REPORT_RENDERER,
  type ReportEnvelope,
  type ReportKeyRef,
  type ReportLink,
} from './envelope.ts';
import { evidenceSchema } from './evidence.ts';
import { embeddedText, visiblePart } from './html/embed.ts';
import { renderReportHtml } from './html/page.ts';
import { signatureProblem } from './signing.ts';

export type VerifyCode =
  | 'NOT_JSON'
  | 'SHAPE'
  | 'NOT_CANONICAL'
  | 'EVIDENCE_DIGEST'
  | 'EVIDENCE_INVALID'
  | 'BAD_SIGNATURE'
  | 'KEY_NOT_TRUSTED'
  | 'CHAIN_BROKEN'
  | 'CHAIN_FORK'
  | 'HEAD_MISSING'
  | 'HEAD_MISMATCH'
  | 'HEAD_BEHIND'
  | 'HTML_MISSING'
  | 'HTML_EMBED'
  | 'HTML_ALTERED';

export interface VerifyProblem {
  code: VerifyCode;
  file: string;
  id?: string;
  message: string;
  hint: string;
}

export interface ReportInput {
  /** Where the signed text came from (a report file, or a page that embeds it). */
  file: string;
  text: string;
  /** The report's page; undefined when it is missing. */
  html?: { file: string; text: string } | undefined;
}

export interface CheckedReport {
  file: string;
  id: string | undefined;
  sha256: string;
  envelope: ReportEnvelope | undefined;
  signedAt: string;
  problems: VerifyProblem[];
}

const problem = (
  code: VerifyCode,
  file: string,
  id: string | undefined,
  message: string,
  hint: string,
): VerifyProblem => ({
  code,
  file,
  ...(id ? { id } : {}),
  message,
  hint,
});

/** Checks one report on its own: text, digest, evidence, signature, key, page. */
export function checkReport(input: ReportInput, trusted: ReportKeyRef): CheckedReport {
  const sha256 = sha256Hex(input.text);
  const out: CheckedReport = {
    file: input.file,
    id: undefined,
    sha256,
    envelope: undefined,
    signedAt: '',
    problems: [],
  };
  const add = (code: VerifyCode, message: string, hint: string, file = input.file) =>
    out.problems.push(problem(code, file, out.id, message, hint));
  let raw: unknown;
  try {
    raw = JSON.parse(input.text);
  } catch {
    add('NOT_JSON', 'the report is not JSON', 'restore the file from a backup');
    return out;
  }
  const shape = envelopeShapeSchema.safeParse(raw);
  if (!shape.success) {
    add(
      'SHAPE',
      `not a report envelope: ${shape.error.issues[0]?.path.join('.')} ${shape.error.issues[0]?.message}`,
      'restore the file',
    );
    return out;
  }
  const env = raw as ReportEnvelope;
  out.id = env.id;
  out.signedAt = env.signedAt;
  out.envelope = env;
  const sorted = sortKeys(raw) as { evidence: unknown };
  if (`${JSON.stringify(sorted, null, 2)}\n` !== input.text) {
    add(
      'NOT_CANONICAL',
      'the file is not byte for byte what was signed (edited or reformatted)',
      'restore the file',
    );
  }
  if (sha256Hex(JSON.stringify(sorted.evidence)) !== env.evidenceSha256) {
    add(
      'EVIDENCE_DIGEST',
      'the evidence does not match the digest the signature covers',
      'the evidence was altered',
    );
  }
  const evidenceOk = evidenceSchema.safeParse(env.evidence).success;
  if (!evidenceOk)
    add('EVIDENCE_INVALID', 'the evidence is not a valid evidence record', 'the evidence was altered');
  const bad = signatureProblem(env);
  if (bad) add('BAD_SIGNATURE', bad, 'the report was altered after it was signed');
  if (env.key.fingerprint !== trusted.fingerprint) {
    add(
      'KEY_NOT_TRUSTED',
      `signed by key ${env.key.fingerprint}, not the trusted ${trusted.fingerprint}`,
      'if you trust that key, pass it with --key',
    );
  }
  if (!input.html) {
    add('HTML_MISSING', 'the report has no page next to it', 'run lifeboat report show to re-render it');
    return out;
  }
  const embedded = embeddedText(input.html.text);
  if ('problem' in embedded || embedded.text !== input.text) {
    add(
      'HTML_EMBED',
      'problem' in embedded ? embedded.problem : 'the page embeds other bytes than the signed report',
      'the page was altered; re-render it from the signed file',
      input.html.file,
    );
  } else if (
    evidenceOk &&
    rendersSame(env) &&
    visiblePart(renderReportHtml(env)) !== visiblePart(input.html.text)
  ) {
    add(
      'HTML_ALTERED',
      'what the page shows is not what the signed evidence renders to',
      're-render the page',
      input.html.file,
    );
  }
  return out;
}

/** Whether this renderer draws the page as its own renderer did (/1 drew no failover section). */
function rendersSame(env: ReportEnvelope): boolean {
  return (
    env.renderer === REPORT_RENDERER || (env.renderer === 'lifeboat-report-html/1' && env.type !== 'failover')
  );
}

export interface HeadCheck {
  /** The controller's head; undefined when it could not be asked (then `reason` says why). */
  head?: ReportLink | undefined;
  reason?: string;
}

export interface VerifyResult {
  ok: boolean;
  problems: VerifyProblem[];
  reports: Array<{ file: string; id: string | undefined; sha256: string; ok: boolean }>;
  /** Whether the newest report was compared with the controller's head. */
  headChecked: boolean;
  headReason?: string;
}

/** Puts the reports in chain order: the unbroken run from the first, then the rest by time. */
function chainOrder(reports: CheckedReport[]): { order: CheckedReport[]; linked: Set<CheckedReport> } {
  const byPrev = new Map<string, CheckedReport[]>();
  for (const r of reports) {
    if (!r.envelope) continue;
    const k = r.envelope.previous?.sha256 ?? 'genesis';
    byPrev.set(k, [...(byPrev.get(k) ?? []), r]);
  }
  const order: CheckedReport[] = [];
  const linked = new Set<CheckedReport>();
  let next = byPrev.get('genesis')?.[0];
  while (next && !linked.has(next)) {
    order.push(next);
    linked.add(next);
    next = byPrev.get(next.sha256)?.[0];
  }
  const rest = reports
    .filter((r) => !linked.has(r))
    .sort((a, b) => a.signedAt.localeCompare(b.signedAt) || a.file.localeCompare(b.file));
  return { order: [...order, ...rest], linked };
}

/** Verifies one runbook's reports as a chain. `head` is the controller's, when it was asked. */
export function verifyChain(
  inputs: ReportInput[],
  trusted: ReportKeyRef,
  head: HeadCheck = {},
): VerifyResult {
  const checked = inputs.map((i) => checkReport(i, trusted));
  const { order, linked } = chainOrder(checked);
  const bySha = new Map(checked.map((r) => [r.sha256, r]));
  const seenPrev = new Set<string>();
  const problems: VerifyProblem[] = [];
  for (const r of order) {
    problems.push(...r.problems);
    const env = r.envelope;
    if (!env) continue;
    const prevKey = env.previous?.sha256 ?? 'genesis';
    if (seenPrev.has(prevKey)) {
      problems.push(
        problem(
          'CHAIN_FORK',
          r.file,
          r.id,
          `another report already follows ${env.previous?.id ?? 'the start of the chain'}`,
          'two reports claim the same place in the chain',
        ),
      );
    }
    seenPrev.add(prevKey);
    if (!linked.has(r) && env.previous && !bySha.has(env.previous.sha256)) {
      problems.push(
        problem(
          'CHAIN_BROKEN',
          r.file,
          r.id,
          `its previous report ${env.previous.id} (sha256 ${env.previous.sha256.slice(0, 12)}…) is missing or was altered`,
          'restore the previous report file',
        ),
      );
    } else if (!linked.has(r) && !env.previous) {
      problems.push(
        problem(
          'CHAIN_FORK',
          r.file,
          r.id,
          'a second first report of the chain',
          'two chains in one runbook',
        ),
      );
    }
  }
  const tail = [...order].reverse().find((r) => linked.has(r));
  if (head.head) {
    const h = head.head;
    const found = bySha.get(h.sha256);
    const last = order.at(-1);
    const where = tail?.file ?? last?.file ?? '(none)';
    if (!found) {
      const sameId = checked.find((r) => r.id === h.id);
      problems.push(
        sameId
          ? problem(
              'HEAD_MISMATCH',
              sameId.file,
              h.id,
              `the controller's newest report ${h.id} has sha256 ${h.sha256.slice(0, 12)}…, this file ${sameId.sha256.slice(0, 12)}…`,
              'the file was replaced; restore it',
            )
          : problem(
              'HEAD_MISSING',
              where,
              h.id,
              `the controller's newest report ${h.id} is missing`,
              'restore the newest report file',
            ),
      );
    } else if (tail && found !== tail) {
      problems.push(
        problem(
          'HEAD_BEHIND',
          tail.file,
          tail.id,
          `reports follow the controller's head ${h.id}`,
          'the controller did not record them; check how they were made',
        ),
      );
    }
  }
  return {
    ok: problems.length === 0,
    problems,
    reports: order.map((r) => ({
      file: r.file,
      id: r.id,
      sha256: r.sha256,
      ok: !problems.some((p) => p.file === r.file || p.file === `${r.file.replace(/\.json$/, '')}.html`),
    })),
    headChecked: head.head !== undefined,
    ...(head.reason ? { headReason: head.reason } : {}),
  };
}
