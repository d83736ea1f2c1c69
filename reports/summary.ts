/** What the history page, `report list|show` and `--wait` need from one report. Pure. */
import type { ReportEnvelope } from './envelope.ts';
import type { FailbackEvidence, FailoverEvidence } from './evidence.ts';
import { bytes } from './html/failback.ts';
import { duration } from './html/format.ts';

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

/**
 * A failover's facts in a few lines, for `report show` and `failover --wait`: mode, downtime,
 * records lost, the final cycle, the fence, and what a commit timeout or a rollback did.
 */
export function failoverLines(fo: FailoverEvidence): string[] {
  const began = fo.firstStopAt ? ` from ${fo.firstStopAt}` : '';
  const downtime =
    fo.downtimeMs === undefined
      ? `downtime not measured (${fo.firstStopAt ? 'not every group became healthy' : 'no primary VM stopped by the failover'})`
      : `downtime ${duration(fo.downtimeMs)}${began}`;
  const lines = [`failover (${fo.mode}): ${downtime}`];
  const window = fo.lossWindowMs === undefined ? '' : ` over ${duration(fo.lossWindowMs)}`;
  const from = fo.recordsLostFrom ? ` (${fo.recordsLostFrom})` : '';
  const notSame = fo.dataProof.filter((d) => !d.identical).length;
  const disks = `${fo.dataProof.length} disk(s) compared${notSame ? `, ${notSame} not identical` : ''}`;
  lines.push(`records lost: ${fo.recordsLost}${window}, ${disks}${from}`);
  const c = fo.finalCycle;
  if (c) lines.push(`final cycle ${c.cycleId}: ${c.outcome}${c.error ? ` (${c.error})` : ''}`);
  const forced = fo.shutdown.filter((x) => x.method === 'forced').map((x) => x.vm);
  if (forced.length) lines.push(`forced off at the primary: ${forced.join(', ')}`);
  const f = fo.fence;
  if (f) {
    const enforced = f.enforced ? `enforced at ${f.enforced.site} ${f.enforced.at}` : 'not enforced yet';
    lines.push(
      `fence: by ${f.by} at ${f.at}, primary ${f.primaryAnswered ? 'answered' : 'did not answer'}, ${enforced}: ${f.reason}`,
    );
  } else if (fo.mode === 'disaster') lines.push('fence: none recorded');
  if (fo.commitTimeoutKept)
    lines.push(
      'commit window ran out: kept running at the secondary (no primary to roll back to); commit it',
    );
  if (fo.protection?.error) lines.push(fo.protection.error);
  if (fo.primaryRestarted.length)
    lines.push(
      `primary restarted by the rollback: ${fo.primaryRestarted.map((r) => `${r.vm} ${r.ok ? 'started' : `NOT started (${r.detail})`}`).join(', ')}`,
    );
  return lines;
}

/**
 * A failback's facts in a few lines, for `report show` and `failback --wait`: downtime, records
 * lost and moved, the final reprotect, boot counters, and what was cleaned up.
 */
export function failbackLines(fb: FailbackEvidence): string[] {
  const downtime =
    fb.downtimeMs === undefined
      ? 'downtime not measured (not every group became healthy at the primary)'
      : `downtime ${duration(fb.downtimeMs)}${fb.firstStopAt ? ` from ${fb.firstStopAt}` : ''}`;
  const lines = [`failback: ${downtime}`];
  const notSame = fb.dataProof.filter((d) => !d.identical).length;
  const moved = fb.recordsMoved === undefined ? '' : `, ${fb.recordsMoved} moved home`;
  lines.push(
    `records lost: ${fb.recordsLost}${moved}, ${fb.dataProof.length} disk(s) compared${notSame ? `, ${notSame} not identical` : ''}`,
  );
  if (fb.finalReprotect.length) {
    const sent = fb.finalReprotect.reduce((n, r) => n + r.bytesReceived, 0);
    const full = fb.finalReprotect.filter((r) => r.fullReason !== undefined).map((r) => r.vm);
    const tail = fb.finalReprotect.filter((r) => r.since !== undefined).length;
    lines.push(
      `final reprotect: ${bytes(sent)} on the link for ${fb.finalReprotect.length} VM(s)${tail ? `, ${tail} of them only the tail since the last reverse cycle` : ''}${full.length ? `, whole disks for ${full.join(', ')}` : ''}`,
    );
  }
  if (fb.boots.length)
    lines.push(`boots at the primary: ${fb.boots.map((b) => `${b.vm} ${b.boots}`).join(', ')}`);
  if (fb.fenceLifted?.lifted) lines.push(`the primary's fence lifted at ${fb.fenceLifted.at}`);
  if (fb.cleanup) {
    const removed = fb.cleanup.filter((c) => c.removed.length > 0).map((c) => c.vm);
    lines.push(
      `cleaned up: ${removed.length ? `failover VMs removed at the secondary (${removed.join(', ')})` : 'nothing left at the secondary'}, ${fb.bitmapsRemoved?.length ?? 0} reprotect bitmap(s) removed`,
    );
  }
  if (fb.cleanupError) lines.push(`not cleaned up: ${fb.cleanupError}`);
  if (fb.secondaryRestarted?.length)
    lines.push(`restarted at the secondary: ${fb.secondaryRestarted.join(', ')}`);
  return lines;
}
