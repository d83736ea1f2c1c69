/**
 * Assembles an operation's evidence record from what the interpreter saw: the point set, the
 * progress timings, every check and isolation probe, approvals, the teardown proof, and the
 * objectives measured against the Plan's. Pure and deterministic (workflow code): the record is
 * validated and written by an orchestrator activity.
 */
import type {
  IsolationProbeResult,
  RestorePreflightResult,
  TeardownProofResult,
} from '../activities/index.ts';
import type { Evidence, FailbackEvidence, FailoverEvidence, TimelineEntry } from '../reports/evidence.ts';
import type { Plan } from '../runbooks/plan.ts';
import type { CheckRecord, OperationOutcome, OperationProgress } from './types.ts';

export interface EvidenceInput {
  plan: Plan;
  progress: OperationProgress;
  outcome: OperationOutcome;
  temporal: { namespace: string; workflowId: string; runId: string };
  startedBy: string;
  selector: string;
  targetSite: string;
  network: string;
  preflight?: RestorePreflightResult;
  preflightError?: string;
  preflightEndedAt?: number;
  checks: CheckRecord[];
  probes: IsolationProbeResult[];
  proof?: TeardownProofResult;
  /** When every group was healthy (the last check passed), before teardown. */
  healthyAt?: number;
  error?: string;
  /** Failovers: shutdown, final cycle, records compared. */
  failover?: FailoverEvidence;
  /** Failbacks: the secondary's shutdown, the final reprotect, records compared, cleanup. */
  failback?: FailbackEvidence;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function buildEvidence(e: EvidenceInput): Evidence {
  const { plan, progress } = e;
  const started = progress.startedAt;
  const ended = progress.endedAt ?? started;
  const rtoMs = e.healthyAt !== undefined ? e.healthyAt - started : undefined;
  const rpoMs = e.preflight ? Math.max(0, started - Date.parse(e.preflight.capturedAt)) : undefined;
  const rto = {
    targetMs: plan.objectives.rtoMs,
    ...(rtoMs === undefined ? {} : { measuredMs: rtoMs, pass: rtoMs <= plan.objectives.rtoMs }),
    basis: 'from the start of the operation to the moment the last check of the last group passed',
  };
  const rpo = e.failback
    ? failbackRpo(plan.objectives.rpoMs, e.failback)
    : {
        targetMs: plan.objectives.rpoMs,
        ...(rpoMs === undefined ? {} : { measuredMs: rpoMs, pass: rpoMs <= plan.objectives.rpoMs }),
        basis: 'age of the restored point set (its oldest checkpoint) when the operation started',
      };

  const reasons: string[] = [];
  if (e.preflightError) reasons.push(`preflight refused: ${e.preflightError}`);
  if (e.outcome !== 'succeeded') reasons.push(`operation ${e.outcome}${e.error ? `: ${e.error}` : ''}`);
  const failedChecks = e.checks.filter((c) => c.outcome === 'failed');
  if (failedChecks.length > 0)
    reasons.push(
      `${failedChecks.length} check(s) failed: ${failedChecks.map((c) => `${c.id} on ${c.vm}`).join(', ')}`,
    );
  const reached = e.probes.filter((p) => p.outcome === 'reachable');
  if (reached.length > 0)
    reasons.push(`isolation breached: ${reached.map((p) => `${p.vm} (${p.target})`).join(', ')}`);
  const notRun = e.probes.filter((p) => p.outcome === 'not-run');
  if (notRun.length > 0) reasons.push(`isolation not proven for ${notRun.map((p) => p.vm).join(', ')}`);
  // Only a drill's copies are isolated and torn down; a failover's VMs are production.
  const drill = progress.kind === 'drill';
  if (drill && e.preflight && e.probes.length === 0 && e.outcome === 'succeeded')
    reasons.push('no isolation probe ran');
  if (e.proof && !e.proof.proven)
    reasons.push(
      `teardown not proven: ${e.proof.facts
        .filter((f) => !f.holds)
        .map((f) => f.fact)
        .join('; ')}`,
    );
  if (drill && e.preflight && !e.proof) reasons.push('no teardown proof');
  if (e.failover?.mode === 'planned' && e.failover.recordsLost > 0)
    reasons.push(
      `${e.failover.recordsLost} workload record(s) written before shutdown are not in the final point`,
    );
  const fb = e.failback;
  if (fb && fb.recordsLost > 0)
    reasons.push(`${fb.recordsLost} workload record(s) written at the secondary are not at the primary`);
  if (fb && e.outcome === 'succeeded' && fb.dataProof.length === 0)
    reasons.push('no data disk was compared between the sites');
  if (fb?.cleanupError) reasons.push(`cleanup after the failback incomplete: ${fb.cleanupError}`);
  if (e.failover?.commitTimeoutKept)
    reasons.push(
      'not committed within failover.commitWithin: kept running at the secondary (no primary to roll back to); commit it',
    );
  if (rto.pass === false)
    reasons.push(`RTO ${secs(rtoMs)} exceeds the objective ${secs(plan.objectives.rtoMs)}`);
  if (rto.pass === undefined && !e.preflightError)
    reasons.push('RTO not measured (not every group became healthy)');
  if (rpo.pass === false && !fb)
    reasons.push(`RPO ${secs(rpoMs)} exceeds the objective ${secs(plan.objectives.rpoMs)}`);

  const deviations = [
    ...notRun.map((p) => ({ what: `isolation probe of ${p.vm} not run`, reason: p.detail, at: p.at })),
    ...Object.values(progress.groups)
      .filter((g) => g.error)
      .map((g) => ({
        what: `group ${g.name} ${g.state}`,
        reason: g.error as string,
        ...(g.endedAt ? { at: iso(g.endedAt) } : {}),
      })),
  ];

  return {
    apiVersion: 'lifeboat/v1',
    kind: 'Evidence',
    schemaVersion: 1,
    id: progress.id,
    type: progress.kind,
    runbook: {
      name: plan.runbook.name,
      owner: plan.runbook.owner,
      planHash: plan.hash,
      file: plan.runbook.source.file,
      fileSha256: plan.runbook.source.sha256,
    },
    // Filled in by the activity that records it (workflow code cannot read the package).
    lifeboatVersion: 'unknown',
    temporal: e.temporal,
    startedBy: e.startedBy,
    startedAt: iso(started),
    endedAt: iso(ended),
    scope: {
      sites: { primary: plan.sites.primary.name, secondary: plan.sites.secondary.name, target: e.targetSite },
      network: e.network,
      groups: plan.groups.map((g) => ({ name: g.name, wave: g.wave, vms: g.vms.map((v) => v.name) })),
    },
    ...(e.preflight
      ? {
          pointSet: {
            selector: e.selector,
            pointId: e.preflight.pointId,
            capturedAt: e.preflight.capturedAt,
            points: e.preflight.points.map((p) => ({
              vm: p.vm,
              pointId: p.pointId,
              checkpointAt: p.checkpointAt,
              committedAt: p.committedAt,
              consistency: p.consistency,
              integrity: p.integrity,
              kind: p.kind,
              ...(p.guestFrozen ? { guestFrozen: p.guestFrozen } : {}),
            })),
          },
        }
      : {}),
    objectives: { rto, rpo },
    timeline: timeline(e),
    checks: e.checks.map((c) => ({ ...c, startedAt: iso(c.startedAt), endedAt: iso(c.endedAt) })),
    approvals: progress.decisions.map((d) => ({ ...d, signatureVerified: true })),
    isolation: e.probes,
    ...(e.preflight && e.proof
      ? {
          replicaIntegrity: {
            before: e.preflight.before,
            after: e.proof.after,
            unchanged: e.proof.facts.some((f) => f.fact.startsWith('replica files unchanged') && f.holds),
          },
        }
      : {}),
    ...(e.proof ? { teardown: { facts: e.proof.facts, proven: e.proof.proven, at: e.proof.at } } : {}),
    deviations,
    ...(e.failover ? { failover: e.failover } : {}),
    ...(e.failback ? { failback: e.failback } : {}),
    outcome: e.outcome,
    verdict: reasons.length === 0 ? 'pass' : 'fail',
    verdictReasons: reasons,
  };
}

/**
 * A failback restores no point: nothing written at the secondary may be missing at the primary,
 * so its RPO is zero when every data disk's last record was found at home, and fails otherwise.
 */
function failbackRpo(targetMs: number, fb: FailbackEvidence): Evidence['objectives']['rpo'] {
  const basis =
    "records written at the secondary and not at the primary, each data disk's last record read offline at both sites after the final reprotect";
  if (fb.dataProof.length === 0) return { targetMs, basis };
  const proven = fb.dataProof.every((d) => d.identical);
  return proven ? { targetMs, measuredMs: 0, pass: true, basis } : { targetMs, pass: false, basis };
}

function timeline(e: EvidenceInput): TimelineEntry[] {
  const { progress } = e;
  const out: TimelineEntry[] = [
    {
      kind: 'operation',
      name: progress.id,
      startedAt: iso(progress.startedAt),
      ...(progress.endedAt ? { endedAt: iso(progress.endedAt) } : {}),
      outcome: e.outcome,
    },
  ];
  if (e.preflightEndedAt !== undefined) {
    out.push({
      kind: 'preflight',
      name: 'point set and site checks',
      startedAt: iso(progress.startedAt),
      endedAt: iso(e.preflightEndedAt),
      outcome: e.preflightError ? 'refused' : 'ok',
      ...(e.preflightError ? { detail: e.preflightError } : {}),
    });
  }
  const groups = Object.values(progress.groups);
  for (let w = 0; w < progress.waves; w++) {
    const inWave = groups.filter((g) => g.wave === w && g.startedAt !== undefined);
    if (inWave.length === 0) continue;
    const start = Math.min(...inWave.map((g) => g.startedAt as number));
    const ends = inWave.map((g) => g.endedAt).filter((t): t is number => t !== undefined);
    out.push({
      kind: 'wave',
      name: `wave ${w}`,
      wave: w,
      startedAt: iso(start),
      ...(ends.length === inWave.length ? { endedAt: iso(Math.max(...ends)) } : {}),
      outcome: inWave.every((g) => g.state === 'succeeded' || g.state === 'rolled-back') ? 'done' : 'failed',
    });
  }
  for (const g of groups) {
    if (g.startedAt === undefined) continue;
    out.push({
      kind: 'group',
      name: g.name,
      group: g.name,
      wave: g.wave,
      startedAt: iso(g.startedAt),
      ...(g.endedAt ? { endedAt: iso(g.endedAt) } : {}),
      outcome: g.state,
      ...(g.error ? { detail: g.error } : {}),
    });
    for (const [vm, v] of Object.entries(g.vms)) {
      if (v.startedAt === undefined) continue;
      const checks = e.checks.filter((c) => c.vm === vm && c.group === g.name);
      const healthy =
        checks.length > 0 && checks.every((c) => c.outcome === 'passed')
          ? Math.max(...checks.map((c) => c.endedAt))
          : undefined;
      out.push({
        kind: 'vm',
        name: `${vm} build and boot`,
        group: g.name,
        vm,
        wave: g.wave,
        startedAt: iso(v.startedAt),
        ...(v.endedAt ? { endedAt: iso(v.endedAt) } : {}),
        outcome: v.state,
        ...(healthy !== undefined
          ? { detail: `healthy ${secs(healthy - v.startedAt)} after its build started` }
          : {}),
      });
    }
  }
  for (const c of e.checks) {
    out.push({
      kind: 'check',
      name: c.id,
      group: c.group,
      vm: c.vm,
      startedAt: iso(c.startedAt),
      endedAt: iso(c.endedAt),
      outcome: c.outcome,
    });
  }
  if (e.proof) {
    out.push({
      kind: 'teardown',
      name: 'teardown and its proof',
      startedAt: iso(e.healthyAt ?? progress.startedAt),
      endedAt: e.proof.at,
      outcome: e.proof.proven ? 'proven' : 'not proven',
    });
  }
  return out;
}

function secs(ms: number | undefined): string {
  return ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`;
}
