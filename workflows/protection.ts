/**
 * What a protection Schedule starts (`protect/<runbook>/<kind>`, platform/protection.ts): one
 * request to the runbook's controller for a replication cycle or a drill, then waiting for that
 * operation to end, so the Schedule's overlap policy (skip, one buffered) sees a cycle that
 * takes longer than `every` as still running instead of stacking requests. A refusal (a cycle
 * or a failover in flight) ends the run with the refusal as its result: the Schedule's next
 * action tries again. The `reverse` kind (after a reprotect, `protect/<runbook>/reverse`) asks
 * for a reprotect: a reverse cycle from the active secondary toward the old primary.
 *
 * Upkeep (`patched('protection-upkeep')`): after a cycle that committed points, retention runs
 * at the secondary for every VM, fed the points the controller says operations hold; the
 * `scrub` kind (its own Schedule, platform/protection.ts) scrubs every VM's whole chain there.
 * A secondary whose worker does not pick the work up within SITE_SCHEDULE_TO_START_MS is
 * reported in the result and counted (`lifeboat_protection_runs_total{outcome="site-absent"}`),
 * never waited on: the next run tries again.
 */
import {
  ActivityFailure,
  condition,
  patched,
  proxyActivities,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ProtectionActivities } from '../activities/protection.ts';
import type { ReplicationActivities, RetentionSummary, ScrubSummary } from '../activities/replication.ts';
import { SEARCH_ATTRIBUTE_KEYS } from '../platform/names.ts';
import type { RunbookRpoState } from '../replication/rpo-metrics.ts';
import type { Plan } from '../runbooks/plan.ts';
import { guardInput } from './guard.ts';
import { proxySiteActivities } from './site-proxy.ts';

export interface ProtectionRunInput {
  runbook: string;
  /** `reverse`: a reverse cycle after reprotect (a reprotect request; no upkeep at either site). */
  kind: 'replication' | 'drill' | 'scrub' | 'reverse';
  plan: Plan;
}

/** What an upkeep step did per VM at the secondary, or why it could not. */
export type UpkeepRow<T> = { vm: string; ok: true; result: T } | { vm: string; ok: false; error: string };

export type ProtectionRunResult =
  | {
      admitted: true;
      id: string;
      outcome: string;
      retention?: Array<UpkeepRow<RetentionSummary>>;
      /** Why the secondary could not record the runbook's VMs (its RPO figures), when it could not. */
      notRecorded?: string;
      rpo?: RpoAtEnd;
    }
  | { admitted: false; code: string; message: string; rpo?: RpoAtEnd }
  | { scrub: Array<UpkeepRow<ScrubSummary>> };

/** The RPO at the secondary when a replication run ended, or why it could not be read. */
export type RpoAtEnd = RunbookRpoState | { unknown: string };

/** Problems with a scheduled run's input; it has no parent (a Schedule starts it). */
export function validateProtectionRunInput(input: unknown): string[] {
  if (!input || typeof input !== 'object') return ['input must be an object'];
  const i = input as Partial<ProtectionRunInput>;
  const problems: string[] = [];
  if (typeof i.runbook !== 'string' || i.runbook === '') problems.push('runbook must be a name');
  if (i.kind !== 'replication' && i.kind !== 'drill' && i.kind !== 'scrub' && i.kind !== 'reverse')
    problems.push('kind must be replication, drill, scrub or reverse');
  if (!i.plan || typeof i.plan !== 'object') problems.push('plan is missing');
  else if (i.plan.runbook?.name !== i.runbook) problems.push('plan is for another runbook');
  return problems;
}

const { requestOperation } = proxyActivities<ProtectionActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});
const { awaitOperation } = proxyActivities<ProtectionActivities>({
  // A cycle or a drill may take long; the heartbeat says the waiter is alive.
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
});

const { heldPoints, recordUpkeep } = proxyActivities<ProtectionActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

/** Upkeep at the secondary: retried a few times, never left queued for a worker that is gone. */
function secondaryUpkeep(
  plan: Plan,
): Pick<
  ReplicationActivities,
  'replicationRetention' | 'replicationScrub' | 'replicationProtected' | 'replicationRpoState'
> {
  return proxySiteActivities<ReplicationActivities>(plan.sites.secondary.name, {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 3 },
  });
}

function planVms(plan: Plan): string[] {
  return plan.groups.flatMap((g) => g.vms.map((v) => v.name));
}

function upkeepError(err: unknown): { error: string; absent: boolean } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const absent = cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START';
  const message = cause instanceof Error ? cause.message : String(cause);
  return { absent, error: absent ? `secondary site worker absent (${message})` : message };
}

async function eachVm<T>(
  plan: Plan,
  kind: 'retention' | 'scrub',
  fn: (vm: string) => Promise<T>,
): Promise<Array<UpkeepRow<T>>> {
  const rows: Array<UpkeepRow<T>> = [];
  let outcome: 'ok' | 'failed' | 'site-absent' = 'ok';
  for (const vm of planVms(plan)) {
    try {
      rows.push({ vm, ok: true, result: await fn(vm) });
    } catch (err) {
      const e = upkeepError(err);
      rows.push({ vm, ok: false, error: e.error });
      outcome = e.absent ? 'site-absent' : 'failed';
      // A worker that is gone is gone for every VM: say so once, not once per VM.
      if (e.absent) break;
    }
  }
  await recordUpkeep({ runbook: plan.runbook.name, kind, outcome });
  return rows;
}

/**
 * The RPO of the runbook's VMs at the secondary now, kept on the run as the `LifeboatRpo` search
 * attribute (`breach` or `within`): `LifeboatRpo = 'breach'` lists the runs in breach now
 * (running) or at their end (closed). A secondary that cannot say leaves the attribute as it was.
 */
async function rpoNow(plan: Plan): Promise<RpoAtEnd> {
  try {
    const state = await secondaryUpkeep(plan).replicationRpoState({
      runbook: plan.runbook.name,
      vms: planVms(plan),
      objectiveMs: plan.objectives.rpoMs,
    });
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTE_KEYS.rpo, value: state.breach.length > 0 ? 'breach' : 'within' },
    ]);
    return state;
  } catch (err) {
    return { unknown: upkeepError(err).error };
  }
}

export async function protectionRunWorkflow(input: ProtectionRunInput): Promise<ProtectionRunResult> {
  guardInput('protection run', input, (i) => validateProtectionRunInput(i));
  const { plan } = input;
  if (input.kind === 'scrub') {
    const { replicationScrub } = secondaryUpkeep(plan);
    const scrub = await eachVm(plan, 'scrub', (vm) => replicationScrub({ runbook: plan.runbook.name, vm }));
    return { scrub };
  }
  if (input.kind !== 'replication' || !patched('protection-rpo-search-attribute')) {
    return (await requestAndUpkeep({ ...input, kind: input.kind })).result;
  }
  // While the cycle runs (it may hang on a cut link for long), the RPO is read again every
  // rpoWatchMs so the run's attribute turns to `breach` when the objective is crossed.
  let over = false;
  const watching = (async () => {
    while (!(await condition(() => over, rpoWatchMs(plan)))) await rpoNow(plan);
  })();
  const { result, secondaryAbsent } = await requestAndUpkeep({ ...input, kind: input.kind });
  over = true;
  await watching;
  // A secondary whose worker was found absent in this run is not waited on a second time.
  return { ...result, rpo: secondaryAbsent ? { unknown: secondaryAbsent } : await rpoNow(plan) };
}

/** How often a running replication run reads the RPO again: half the objective, 10 s to 1 min. */
function rpoWatchMs(plan: Plan): number {
  return Math.min(60_000, Math.max(10_000, Math.floor(plan.objectives.rpoMs / 2)));
}

async function requestAndUpkeep(
  input: ProtectionRunInput & { kind: 'replication' | 'drill' | 'reverse' },
): Promise<{ result: Exclude<ProtectionRunResult, { scrub: unknown }>; secondaryAbsent?: string }> {
  const { plan } = input;
  // The secondary learns the VMs and the objective (RPO of VMs with no point yet), beside the cycle.
  const upkeep = input.kind === 'replication' && patched('protection-upkeep');
  const recorded = upkeep
    ? secondaryUpkeep(plan)
        .replicationProtected({
          runbook: input.runbook,
          vms: planVms(plan),
          objectiveMs: plan.objectives.rpoMs,
        })
        .then(
          () => undefined,
          (err: unknown) => upkeepError(err),
        )
    : Promise.resolve(undefined);
  // A reverse cycle is a reprotect: the controller admits it only while failed over, committed.
  const kind = input.kind === 'reverse' ? 'reprotect' : input.kind;
  const a = await requestOperation({
    plan: input.plan,
    kind,
    taskQueue: workflowInfo().taskQueue,
    requestedBy: `schedule ${workflowInfo().workflowId}`,
  });
  if (!a.admitted) return { result: a, ...absence(await recorded) };
  const { outcome } = await awaitOperation({ id: a.id, runbook: input.runbook, kind });
  const committed = outcome === 'succeeded' || outcome === 'partial';
  const problem = await recorded;
  const notRecorded = problem?.error;
  if (upkeep && committed) {
    const held = await heldPoints({ runbook: input.runbook });
    const { replicationRetention } = secondaryUpkeep(plan);
    const keep = plan.replication.retentionPoints;
    const retention = await eachVm(plan, 'retention', (vm) =>
      replicationRetention({ runbook: input.runbook, vm, keep, held }),
    );
    return {
      result: { admitted: true, id: a.id, outcome, retention, ...(notRecorded ? { notRecorded } : {}) },
      ...absence(problem),
    };
  }
  return { result: { admitted: true, id: a.id, outcome }, ...absence(problem) };
}

function absence(problem: { error: string; absent: boolean } | undefined): { secondaryAbsent?: string } {
  return problem?.absent ? { secondaryAbsent: problem.error } : {};
}
