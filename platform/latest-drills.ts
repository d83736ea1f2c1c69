/**
 * The newest finished drill of each runbook, as its controller remembers it: what `lifeboat
 * status` shows a compliance reviewer first (verdict, when, where the evidence is).
 */
import type { Client } from '@temporalio/client';
import { runbookStateQuery } from '../workflows/messages.ts';
import type { OperationSummary } from '../workflows/types.ts';
import { controllerWorkflowId } from './names.ts';

export interface LatestDrill {
  runbook: string;
  /** Undefined when the runbook has had no drill its controller still remembers. */
  drill?: Pick<
    OperationSummary,
    'id' | 'outcome' | 'endedAt' | 'verdict' | 'evidencePath' | 'report' | 'error'
  >;
}

export async function latestDrills(
  client: Client,
  runbooks: readonly string[],
  timeoutMs = 3_000,
): Promise<LatestDrill[]> {
  return Promise.all(
    [...new Set(runbooks)].sort().map(async (runbook): Promise<LatestDrill> => {
      try {
        const handle = client.workflow.getHandle(controllerWorkflowId(runbook));
        const state = await Promise.race([
          handle.query(runbookStateQuery),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('timeout')), timeoutMs).unref(),
          ),
        ]);
        const drill = [...state.recent].reverse().find((o) => o.kind === 'drill');
        if (!drill) return { runbook };
        const { id, outcome, endedAt, verdict, evidencePath, report, error } = drill;
        return { runbook, drill: { id, outcome, endedAt, verdict, evidencePath, report, error } };
      } catch {
        return { runbook };
      }
    }),
  );
}

export function renderLatestDrills(rows: readonly LatestDrill[]): string {
  if (rows.length === 0) return 'Latest drills: none';
  const lines = rows.map((r) => {
    const d = r.drill;
    if (!d) return `  ${r.runbook}: no drill yet`;
    const verdict = d.verdict ? d.verdict.toUpperCase() : d.outcome;
    // The signed report is what a reviewer opens; the raw evidence when there is none.
    const where = d.report
      ? `, report ${d.report.htmlPath}`
      : d.evidencePath
        ? `, evidence ${d.evidencePath}`
        : '';
    return `  ${r.runbook}: ${verdict} ${d.id} ended ${d.endedAt.replace('T', ' ').slice(0, 19)}${where}`;
  });
  return `Latest drills:\n${lines.join('\n')}`;
}
