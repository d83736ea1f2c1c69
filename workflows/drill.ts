/**
 * The parts of an operation that restore from recovery points: the preflight at the target site
 * (point set, network, room, replica digests), the teardown proof, and writing the evidence.
 * Workflow code: each is one activity call with its own timeouts; `DrillRestore` puts them in
 * the operation's run.
 */
import { CancellationScope, condition, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type {
  OrchestratorActivities,
  RecordedEvidence,
  RestorePreflightResult,
  SiteActivities,
  TeardownProofResult,
} from '../activities/index.ts';
import type { Evidence } from '../reports/evidence.ts';
import { parsePointSelector } from '../restore/point-set.ts';
import type { Plan } from '../runbooks/plan.ts';
import { buildEvidence, type EvidenceInput } from './evidence.ts';
import { describe, networkName, VM_ACTION_HEARTBEAT_TIMEOUT } from './group-runner.ts';
import type { OperationRun } from './operation-run.ts';
import { proxySiteActivities } from './site-proxy.ts';
import type { OperationResult } from './types.ts';

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

function secondaryActivities(plan: Plan, startToCloseTimeout: string) {
  return proxySiteActivities<SiteActivities>(plan.sites.secondary.name, {
    startToCloseTimeout,
    heartbeatTimeout: VM_ACTION_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 5, initialInterval: '1s', maximumInterval: '10s' },
  });
}

/** The drill network's name at the secondary (the runbook maps the role to it). */
export function drillNetworkName(plan: Plan): string {
  return networkName(plan.sites.secondary, plan.drill?.network ?? 'bubble');
}

export async function drillPreflight(
  plan: Plan,
  operationId: string,
  point: string,
): Promise<{ ok: true; result: RestorePreflightResult } | { ok: false; error: string }> {
  if (!plan.drill) {
    return {
      ok: false,
      error:
        'the runbook has no drill section: add drill.network (the isolated network role at the secondary)',
    };
  }
  const selector = parsePointSelector(point);
  if (!selector.ok) return { ok: false, error: `${selector.message} (${selector.hint})` };
  try {
    const result = await secondaryActivities(plan, '30 minutes').restorePreflight({
      operationId,
      purpose: 'drill',
      runbook: plan.runbook.name,
      vms: plan.groups.flatMap((g) => g.vms.map((v) => v.name)),
      selector: selector.selector,
      network: drillNetworkName(plan),
      digests: true,
    });
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: describe(err) };
  }
}

export async function drillTeardownProof(
  plan: Plan,
  operationId: string,
  preflight: RestorePreflightResult,
): Promise<TeardownProofResult | string> {
  try {
    return await secondaryActivities(plan, '30 minutes').restoreTeardownProof({
      operationId,
      purpose: 'drill',
      runbook: plan.runbook.name,
      before: preflight.before,
    });
  } catch (err) {
    return describe(err);
  }
}

/**
 * Records the evidence (and its signed report) whatever happens to the operation, then gives the
 * result the verdict, objectives and where the evidence and report are, or why they are not.
 */
/** What only the operation knows of its evidence; the rest comes from its run. */
type OwnEvidence = Omit<
  EvidenceInput,
  'plan' | 'progress' | 'outcome' | 'temporal' | 'startedBy' | 'targetSite' | 'checks' | 'probes' | 'error'
>;

/** The evidence of an operation that restored points at the secondary (drill, failover), recorded. */
export async function recordRestoreEvidence(
  run: OperationRun,
  result: OperationResult,
  own: OwnEvidence,
): Promise<void> {
  const info = workflowInfo();
  const evidence = buildEvidence({
    plan: run.plan,
    progress: run.progress,
    outcome: result.outcome,
    temporal: { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId },
    startedBy: run.input.requestedBy ?? 'unknown',
    targetSite: run.plan.sites.secondary.name,
    checks: run.checks,
    probes: run.probes,
    ...(run.progress.error ? { error: run.progress.error } : {}),
    ...own,
  });
  await recordInto(result, evidence);
}

export async function recordInto(result: OperationResult, evidence: Evidence): Promise<void> {
  const recorded = await CancellationScope.nonCancellable(() => recordEvidence(evidence));
  result.verdict = evidence.verdict;
  result.verdictReasons = evidence.verdictReasons;
  result.rto = evidence.objectives.rto;
  result.rpo = evidence.objectives.rpo;
  if (typeof recorded === 'string') {
    result.verdictReasons = [...evidence.verdictReasons, `evidence not recorded: ${recorded}`];
    return;
  }
  result.evidencePath = recorded.path;
  if (recorded.report) result.report = recorded.report;
  if (recorded.reportError) {
    result.verdictReasons = [...evidence.verdictReasons, `report not published: ${recorded.reportError}`];
  }
}

export async function recordEvidence(evidence: Evidence): Promise<RecordedEvidence | string> {
  try {
    return await orchestrator.recordEvidence(evidence);
  } catch (err) {
    return describe(err);
  }
}

/**
 * The drill's own parts of an operation run: pick and hold the point set before the waves,
 * prove the teardown after the undo, and record the evidence with the result.
 */
export class DrillRestore {
  preflight: RestorePreflightResult | undefined;
  refused: string | undefined;
  private preflightEndedAt: number | undefined;
  private healthyAt: number | undefined;
  private proof: TeardownProofResult | undefined;
  private proofError: string | undefined;

  constructor(private readonly run: OperationRun) {}

  async choosePoints(): Promise<void> {
    const { run } = this;
    const p = await drillPreflight(run.plan, run.id, run.input.options?.point ?? 'latest');
    this.preflightEndedAt = Date.now();
    if (!p.ok) {
      this.refused = p.error;
      return;
    }
    this.preflight = p.result;
    run.restore = {
      pointId: p.result.pointId,
      startedAtMs: run.progress.startedAt,
      vms: Object.fromEntries(
        p.result.points.map((pt) => [
          pt.vm,
          {
            domain: pt.domain,
            records: pt.records,
            ...(pt.commands === undefined ? {} : { commands: pt.commands }),
          },
        ]),
      ),
    };
    await run.holdPoints(p.result.pointId);
    const keep = run.plan.drill?.keepAtMostMs;
    if (keep) {
      // A drill left waiting (a pause, a gate) is torn down when its time is up.
      void condition(() => run.abortReason !== undefined || this.healthyAt !== undefined, keep).then(
        (done) => {
          if (!done) run.abort('expired');
        },
      );
    }
  }

  /** Every group came up and passed its checks: the RTO is measured to here. */
  healthy(): void {
    if (!this.run.abortReason && !this.refused) this.healthyAt = Date.now();
  }

  async proveTeardown(): Promise<void> {
    const preflight = this.preflight;
    if (!preflight) return;
    const r = await CancellationScope.nonCancellable(() =>
      drillTeardownProof(this.run.plan, this.run.id, preflight),
    );
    if (typeof r === 'string') {
      this.proofError = `teardown proof: ${r}`;
      this.run.progress.error = [this.run.progress.error, this.proofError].filter(Boolean).join('; ');
    } else this.proof = r;
  }

  /** The result, with the errors only a drill has. */
  finish(): OperationResult {
    const { run } = this;
    const expired =
      run.abortReason === 'expired'
        ? [`drill.keepAtMost (${run.plan.drill?.keepAtMostMs} ms) expired; torn down`]
        : [];
    return run.finish({
      ...(this.refused ? { refused: this.refused } : {}),
      notes: expired,
      ...(run.progress.error ? { trailing: run.progress.error } : {}),
    });
  }

  /** Builds and records the evidence; the result carries the verdict and where it was written. */
  async record(result: OperationResult): Promise<void> {
    await recordRestoreEvidence(this.run, result, {
      selector: this.run.input.options?.point ?? 'latest',
      network: drillNetworkName(this.run.plan),
      ...(this.preflight ? { preflight: this.preflight } : {}),
      ...(this.refused ? { preflightError: this.refused } : {}),
      ...(this.preflightEndedAt !== undefined ? { preflightEndedAt: this.preflightEndedAt } : {}),
      ...(this.proof ? { proof: this.proof } : {}),
      ...(this.healthyAt !== undefined ? { healthyAt: this.healthyAt } : {}),
    });
  }
}
