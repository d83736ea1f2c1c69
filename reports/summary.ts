/** What the history page and `report list` need from one report. Pure. */
import type { ReportEnvelope } from './envelope.ts';

export interface ReportSummary {
  id: string;
  file: string;
  type: string;
  n: number;
  verdict: 'pass' | 'fail';
  outcome: string;
  startedAt: string;
  planHash: string;
  rtoMs: number | undefined;
  rtoTargetMs: number;
  rpoMs: number | undefined;
  rpoTargetMs: number;
  sha256: string;
  signedAt: string;
}

export function summarize(env: ReportEnvelope, file: string, sha256: string): ReportSummary {
  const ev = env.evidence;
  return {
    id: env.id,
    file,
    type: env.type,
    n: env.n,
    verdict: ev.verdict,
    outcome: ev.outcome,
    startedAt: ev.startedAt,
    planHash: ev.runbook.planHash,
    rtoMs: ev.objectives.rto.measuredMs,
    rtoTargetMs: ev.objectives.rto.targetMs,
    rpoMs: ev.objectives.rpo.measuredMs,
    rpoTargetMs: ev.objectives.rpo.targetMs,
    sha256,
    signedAt: env.signedAt,
  };
}

export type DrillStatus =
  | { state: 'current'; passing: ReportSummary }
  | { state: 'needs-drill'; lastPassing: ReportSummary | undefined }
  | { state: 'unknown-plan'; lastPassing: ReportSummary | undefined };

/** Whether the runbook's current Plan has a passing drill (a runbook edited since needs one). */
export function drillStatus(history: ReportSummary[], currentPlanHash: string | undefined): DrillStatus {
  const passing = history.filter((r) => r.type === 'drill' && r.verdict === 'pass');
  const lastPassing = passing.sort((a, b) => a.startedAt.localeCompare(b.startedAt)).at(-1);
  if (currentPlanHash === undefined) return { state: 'unknown-plan', lastPassing };
  const match = passing.filter((r) => r.planHash === currentPlanHash).at(-1);
  return match ? { state: 'current', passing: match } : { state: 'needs-drill', lastPassing };
}
