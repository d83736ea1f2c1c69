/**
 * Reports on disk, `<home>/reports/<runbook>/`: `<type>-<n>.json` (the signed envelope),
 * `<type>-<n>.html`, `index.html` (history) and `head.json` (the newest report: id, sha256).
 * Publishing is idempotent and crash-safe: a journal (`pending.json`) names the report being
 * written, every file is replaced atomically, and the head pointer moves last; the next publish
 * finishes a half-written one before it signs anything, so the chain never forks.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { lifeboatHome } from '../platform/home.ts';
import { withDirLock, writeFileAtomic } from './atomic.ts';
import { sha256Hex } from './canonical.ts';
import {
  envelopeShapeSchema,
  evidenceDigest,
  parseReportFileName,
  parseReportId,
  type ReportEnvelope,
  type ReportId,
  type ReportLink,
  reportBaseName,
} from './envelope.ts';
import { ReportError } from './errors.ts';
import { type Evidence, evidenceSchema } from './evidence.ts';
import { renderIndexHtml } from './html/history.ts';
import { renderReportHtml } from './html/page.ts';
import { loadOrCreateReportKey, reportKeyDir } from './key-store.ts';
import { signReport } from './signing.ts';
import { type ReportSummary, summarize } from './summary.ts';

export interface PublishOptions {
  /** LIFEBOAT_HOME (default lifeboatHome()). */
  home?: string;
  /** Where the installation's report key lives (default reportKeyDir()). */
  keyDir?: string;
  /** The signing time (default now). */
  now?: () => Date;
}

export interface PublishedReport {
  /** The operation id, `runbook/<name>/<type>/<n>`. */
  id: string;
  dir: string;
  jsonPath: string;
  htmlPath: string;
  /** sha256 of the report file: what the controller records as the chain head. */
  sha256: string;
  previousSha256: string | null;
}

export function runbookReportsDir(home: string, runbook: string): string {
  return path.join(home, 'reports', runbook);
}

function paths(home: string, id: ReportId) {
  const dir = runbookReportsDir(home, id.runbook);
  const base = reportBaseName(id);
  return { dir, jsonPath: path.join(dir, `${base}.json`), htmlPath: path.join(dir, `${base}.html`) };
}

export interface StoredReport {
  envelope: ReportEnvelope;
  text: string;
  sha256: string;
  jsonPath: string;
  htmlPath: string;
}

async function readStored(jsonPath: string): Promise<StoredReport | undefined> {
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ReportError(
      'REPORT_INVALID',
      `${jsonPath} is not JSON`,
      { file: jsonPath },
      'run lifeboat report verify',
    );
  }
  if (!envelopeShapeSchema.safeParse(raw).success) {
    throw new ReportError(
      'REPORT_INVALID',
      `${jsonPath} is not a report`,
      { file: jsonPath },
      'run lifeboat report verify',
    );
  }
  return {
    envelope: raw as ReportEnvelope,
    text,
    sha256: sha256Hex(text),
    jsonPath,
    htmlPath: jsonPath.replace(/\.json$/, '.html'),
  };
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Every report of a runbook, oldest first by signing time. */
export async function runbookReports(home: string, runbook: string): Promise<StoredReport[]> {
  const dir = runbookReportsDir(home, runbook);
  const names = existsSync(dir) ? (await readdir(dir)).filter((n) => parseReportFileName(n)) : [];
  const out: StoredReport[] = [];
  for (const n of names) {
    const r = await readStored(path.join(dir, n)).catch(() => undefined);
    if (r) out.push(r);
  }
  return out.sort((a, b) => a.envelope.signedAt.localeCompare(b.envelope.signedAt));
}

/** The chain's newest report: the head pointer, or (when it is lost) the tail found by scanning. */
async function currentHead(home: string, runbook: string): Promise<ReportLink | null> {
  const dir = runbookReportsDir(home, runbook);
  const head = await readJson<ReportLink>(path.join(dir, 'head.json'));
  if (head?.sha256) return { id: head.id, sha256: head.sha256 };
  const all = await runbookReports(home, runbook);
  const linkedTo = new Set(all.map((r) => r.envelope.previous?.sha256));
  const tail = all.filter((r) => !linkedTo.has(r.sha256)).at(-1);
  return tail ? { id: tail.envelope.id, sha256: tail.sha256 } : null;
}

async function writeIndex(home: string, runbook: string, currentPlanHash: string | undefined): Promise<void> {
  const all = await runbookReports(home, runbook);
  const rows = all.map((r) => summarize(r.envelope, path.basename(r.jsonPath), r.sha256));
  await writeFileAtomic(
    path.join(runbookReportsDir(home, runbook), 'index.html'),
    renderIndexHtml(runbook, rows, currentPlanHash),
  );
}

/** Finishes a publish a crash interrupted: adopts its report when it extends the head. */
async function rollForward(home: string, runbook: string): Promise<ReportLink | null> {
  const dir = runbookReportsDir(home, runbook);
  const journal = path.join(dir, 'pending.json');
  const pending = await readJson<{ jsonPath: string }>(journal);
  let head = await currentHead(home, runbook);
  if (pending) {
    const r = await readStored(path.join(dir, path.basename(pending.jsonPath))).catch(() => undefined);
    if (r && (r.envelope.previous?.sha256 ?? null) === (head?.sha256 ?? null)) {
      await writeFileAtomic(r.htmlPath, renderReportHtml(r.envelope));
      await writeIndex(home, runbook, r.envelope.evidence.runbook.planHash);
      head = { id: r.envelope.id, sha256: r.sha256 };
      await writeFileAtomic(path.join(dir, 'head.json'), `${JSON.stringify(head)}\n`);
    }
    await rm(journal, { force: true });
  }
  return head;
}

/**
 * Renders, signs and chains the evidence of one operation into `<home>/reports/<runbook>/`.
 * The same evidence again returns the same report; other evidence under a published id is refused.
 */
export async function publishReport(evidence: Evidence, opts: PublishOptions = {}): Promise<PublishedReport> {
  const checked = evidenceSchema.safeParse(evidence);
  if (!checked.success) {
    const i = checked.error.issues[0];
    throw new ReportError(
      'EVIDENCE_INVALID',
      `not a valid evidence record: ${i?.path.join('.')}: ${i?.message}`,
      { id: evidence?.id },
      'fix the evidence writer',
    );
  }
  // Plain JSON data: what is signed is what a reader will parse back.
  const ev = JSON.parse(JSON.stringify(evidence)) as Evidence;
  const id = parseReportId(ev.id);
  if (!id || !ev.id.startsWith('runbook/') || id.runbook !== ev.runbook.name || id.type !== ev.type) {
    throw new ReportError(
      'BAD_ID',
      `evidence id ${ev.id} is not runbook/${ev.runbook.name}/${ev.type}/<n>`,
      { id: ev.id },
      'use the operation id',
    );
  }
  const home = opts.home ?? lifeboatHome();
  const p = paths(home, id);
  return withDirLock(p.dir, async () => {
    const head = await rollForward(home, id.runbook);
    const existing = await readStored(p.jsonPath);
    if (existing) {
      if (existing.envelope.evidenceSha256 !== evidenceDigest(ev)) {
        throw new ReportError(
          'EVIDENCE_CONFLICT',
          `${ev.id} was already published with other evidence`,
          { file: p.jsonPath },
          'evidence is immutable; a new operation gets a new id',
        );
      }
      if (!existsSync(p.htmlPath)) await writeFileAtomic(p.htmlPath, renderReportHtml(existing.envelope));
      return {
        id: ev.id,
        ...p,
        sha256: existing.sha256,
        previousSha256: existing.envelope.previous?.sha256 ?? null,
      };
    }
    const key = await loadOrCreateReportKey(opts.keyDir ?? reportKeyDir());
    const signed = signReport({
      evidence: ev,
      id,
      previous: head,
      key,
      signedAt: (opts.now?.() ?? new Date()).toISOString(),
    });
    const journal = path.join(p.dir, 'pending.json');
    await writeFileAtomic(journal, `${JSON.stringify({ id: ev.id, jsonPath: path.basename(p.jsonPath) })}\n`);
    await writeFileAtomic(p.jsonPath, signed.text);
    await writeFileAtomic(p.htmlPath, renderReportHtml(signed.envelope));
    await writeIndex(home, id.runbook, ev.runbook.planHash);
    await writeFileAtomic(
      path.join(p.dir, 'head.json'),
      `${JSON.stringify({ id: ev.id, sha256: signed.sha256 })}\n`,
    );
    await rm(journal, { force: true });
    return { id: ev.id, ...p, sha256: signed.sha256, previousSha256: head?.sha256 ?? null };
  });
}

/** One report by id (`lab/drill/3` or `runbook/lab/drill/3`). */
export async function readReport(home: string, idText: string): Promise<StoredReport> {
  const id = parseReportId(idText);
  if (!id)
    throw new ReportError(
      'BAD_ID',
      `${idText} is not a report id`,
      { id: idText },
      'use <runbook>/<type>/<n>, e.g. lab/drill/3',
    );
  const r = await readStored(paths(home, id).jsonPath);
  if (!r)
    throw new ReportError('NOT_FOUND', `no report ${idText}`, { id: idText }, 'see lifeboat report list');
  return r;
}

/** Summaries of every report, of one runbook or of all. */
export async function listReports(home: string, runbook?: string): Promise<ReportSummary[]> {
  const root = path.join(home, 'reports');
  const runbooks = runbook
    ? [runbook]
    : existsSync(root)
      ? (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)
      : [];
  const out: ReportSummary[] = [];
  for (const rb of runbooks.sort()) {
    for (const r of await runbookReports(home, rb))
      out.push(summarize(r.envelope, path.basename(r.jsonPath), r.sha256));
  }
  return out;
}

/** Rewrites a runbook's index.html, with the current Plan hash when the caller knows it. */
export async function rebuildIndex(home: string, runbook: string, currentPlanHash?: string): Promise<string> {
  await writeIndex(home, runbook, currentPlanHash);
  return path.join(runbookReportsDir(home, runbook), 'index.html');
}
