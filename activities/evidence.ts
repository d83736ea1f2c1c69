/**
 * Orchestrator activity that keeps an operation's evidence: validated against the schema and
 * written atomically to `<home>/evidence/<runbook>/<type>-<n>.json`, where reports are made from.
 * Writing the same operation's record again replaces it with the same content (idempotent).
 * Then the record is published as a signed, chained report (reports/); publishing the same
 * evidence again returns the same report.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lifeboatHome, REPO_ROOT } from '../platform/home.ts';
import { parseOperationWorkflowId } from '../platform/names.ts';
import { writeFileAtomic } from '../replication/fsutil.ts';
import { type Evidence, parseEvidence } from '../reports/evidence.ts';
import { publishReport } from '../reports/store.ts';

export interface EvidenceDeps {
  /** Lifeboat's home directory (default LIFEBOAT_HOME or `.lifeboat/`). */
  home?: string;
  /** Where the installation's report key is (default LIFEBOAT_REPORT_KEY_DIR or ~/.config). */
  keyDir?: string;
}

export interface RecordedEvidence {
  path: string;
  sha256: string;
  /** The signed report made from it, and the link the controller keeps as the chain head. */
  report?: { id: string; sha256: string; htmlPath: string };
  /** Why no report was published (the evidence itself is kept either way). */
  reportError?: string;
}

let version: string | undefined;
async function lifeboatVersion(): Promise<string> {
  version ??= (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  return version;
}

export function evidencePath(home: string, operationId: string): string {
  const id = parseOperationWorkflowId(operationId);
  if (!id) throw new Error(`not an operation id: ${operationId}`);
  return join(home, 'evidence', id.runbook, `${id.kind}-${id.n}.json`);
}

export function createEvidenceActivities(deps: EvidenceDeps = {}) {
  return {
    async recordEvidence(raw: Evidence): Promise<RecordedEvidence> {
      const evidence = parseEvidence({ ...raw, lifeboatVersion: await lifeboatVersion() }, raw.id);
      const path = evidencePath(deps.home ?? lifeboatHome(), evidence.id);
      await mkdir(join(path, '..'), { recursive: true });
      const text = `${JSON.stringify(evidence, null, 2)}\n`;
      await writeFileAtomic(path, text);
      const sha256 = createHash('sha256').update(text).digest('hex');
      try {
        const published = await publishReport(evidence, {
          home: deps.home ?? lifeboatHome(),
          ...(deps.keyDir ? { keyDir: deps.keyDir } : {}),
        });
        return {
          path,
          sha256,
          report: { id: published.id, sha256: published.sha256, htmlPath: published.htmlPath },
        };
      } catch (err) {
        // A report that cannot be signed does not lose the evidence: the reason travels with the
        // result, and `lifeboat report` can be run on the evidence again.
        return { path, sha256, reportError: err instanceof Error ? err.message : String(err) };
      }
    },
  };
}
