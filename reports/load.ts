/**
 * Reads what `verify` checks from a path: a report file (`.json`, with its page beside it), a
 * page alone (`.html`, checked through the report it embeds), a runbook's reports directory, or
 * `<home>/reports` (every runbook). Grouped by runbook, since each runbook is one chain.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseReportFileName } from './envelope.ts';
import { ReportError } from './errors.ts';
import { embeddedText } from './html/embed.ts';
import type { ReportInput } from './verify.ts';

export interface VerifyTarget {
  runbook: string;
  dir: string;
  inputs: ReportInput[];
  /** A whole runbook directory: the chain and the head can be checked. */
  whole: boolean;
}

async function withPage(jsonPath: string): Promise<ReportInput> {
  const text = await readFile(jsonPath, 'utf8');
  const htmlPath = jsonPath.replace(/\.json$/, '.html');
  const html = existsSync(htmlPath) ? { file: htmlPath, text: await readFile(htmlPath, 'utf8') } : undefined;
  return { file: jsonPath, text, html };
}

async function runbookDir(dir: string): Promise<VerifyTarget> {
  const names = (await readdir(dir)).filter((n) => parseReportFileName(n)).sort();
  const inputs = await Promise.all(names.map((n) => withPage(path.join(dir, n))));
  return { runbook: path.basename(dir), dir, inputs, whole: true };
}

export async function loadVerifyTargets(target: string): Promise<VerifyTarget[]> {
  const st = await stat(target).catch(() => undefined);
  if (!st)
    throw new ReportError(
      'NOT_FOUND',
      `${target} does not exist`,
      { path: target },
      'pass a report file or directory',
    );
  if (st.isFile()) {
    const dir = path.dirname(target);
    if (target.endsWith('.html')) {
      const html = await readFile(target, 'utf8');
      const e = embeddedText(html);
      return [
        {
          runbook: path.basename(dir),
          dir,
          inputs: [{ file: target, text: 'text' in e ? e.text : '', html: { file: target, text: html } }],
          whole: false,
        },
      ];
    }
    return [{ runbook: path.basename(dir), dir, inputs: [await withPage(target)], whole: false }];
  }
  const entries = await readdir(target, { withFileTypes: true });
  if (entries.some((e) => e.isFile() && parseReportFileName(e.name))) return [await runbookDir(target)];
  const out: VerifyTarget[] = [];
  for (const e of entries.filter((d) => d.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    out.push(await runbookDir(path.join(target, e.name)));
  }
  return out;
}
