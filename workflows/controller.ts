/**
 * The runbook's controller (`runbook/<name>`): one long-lived workflow that holds where the
 * runbook stands and admits operations by the compatibility table. Every operation starts here
 * as a child with id `runbook/<name>/<kind>/<n>`, so nothing slips past admission by choosing
 * its own workflow id. It continues-as-new, carrying its state, once its handlers finish.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControllerActivities } from '../activities/controller.ts';
import type { DrStateActivities } from '../activities/dr-state.ts';
import { holdersOf } from '../approvals/deciders.ts';
import {
  type AnySignedDecision,
  acceptDrStateStepId,
  cancelStepId,
  type OperatorChoice,
} from '../approvals/payload.ts';
import {
  administeringRoles,
  peopleChangeStepId,
  peopleDiff,
  peopleFingerprint,
  peopleOf,
} from '../approvals/people.ts';
import { checkOperatorDecision } from '../approvals/verify.ts';
import {
  chooseRecord,
  DR_STATE_FORMAT,
  type DrState,
  drStateDiff,
  drStateDigest,
  drStateOf,
  restoredState,
  type SiteRecordAnswer,
} from '../drstate/record.ts';
import { operationWorkflowId } from '../platform/names.ts';
import { verifyPlanHash } from '../runbooks/hash.ts';
import { PLAN_VERSION, type Plan } from '../runbooks/plan.ts';
import { admitOperation } from './admission.ts';
import { BAD_INPUT } from './guard.ts';
import { operationWorkflow } from './interpreter.ts';
import {
  acceptDrStateUpdate,
  cancelDecisionSignal,
  cancelOperationUpdate,
  changePeopleUpdate,
  fenceEnforcedSignal,
  fenceLiftedSignal,
  finalCycleDoneSignal,
  finalCycleSignal,
  type OperationFinished,
  operationFinishedSignal,
  operationMilestoneSignal,
  pointsHeldSignal,
  reconcileUpdate,
  runbookStateQuery,
  startOperationUpdate,
} from './messages.ts';
import { type ReplicationCycleInput, replicationCycleWorkflow } from './replication.ts';
import { type ReprotectInput, reprotectWorkflow } from './reprotect.ts';
import { SA } from './search-attributes.ts';
import { proxySiteActivities } from './site-proxy.ts';
import type {
  ApprovalRecord,
  ControllerInput,
  DrStateAcceptance,
  DurableBook,
  OperationInput,
  OperationRef,
  OperationStatus,
  OperationSummary,
  PeopleChange,
  PinnedPeople,
  ReconciledOperation,
  RunbookState,
  StartOperationRequest,
} from './types.ts';
import { validateOperationInput } from './validate.ts';
import { validateReplicationCycleInput } from './validate-replication.ts';
import { validateReprotectInput } from './validate-reprotect.ts';

/** Finished operations kept in the state for `status` and reports. */
export const RECENT_KEPT = 20;

/** Signed people changes kept in the state (the evidence of who changed who may decide). */
export const PEOPLE_CHANGES_KEPT = 20;

/** The people of `plan`, pinned now. */
function pin(plan: Plan, changes: PeopleChange[] = []): PinnedPeople {
  const people = peopleOf(plan);
  return {
    ...people,
    fingerprint: peopleFingerprint(people),
    pinnedAt: new Date().toISOString(),
    planHash: plan.hash,
    changes,
  };
}

/** Cancel describes its target first, so a closed one is freed instead of failing the cancel. */
export const RECONCILE_PATCH = 'controller-reconciles-children';

/**
 * The DR state is kept at both sites (drstate/): written at every transition, read back by a
 * controller that starts without a state, and operations refused while the sites disagree.
 */
export const DR_STATE_PATCH = 'controller-dr-state';

/** A cancel's decision is handed to the operation first, so its evidence records who and why. */
export const CANCEL_DECISION_PATCH = 'controller-cancel-decision-to-operation';

/** How often a site that missed a version (down, cut off) is offered the newest again. */
const DR_STATE_RETRY_MS = 5 * 60_000;

/** A site's DR-state activities: a site that does not answer fails fast, never blocks the controller. */
function drStateAt(site: string): DrStateActivities {
  return proxySiteActivities<DrStateActivities>(site, {
    scheduleToStartTimeout: '15 seconds',
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1s', maximumAttempts: 2 },
  });
}

/** Each site's newest DR-state record of `runbook`; a site that does not answer is said so. */
function readSites(sites: readonly string[], runbook: string): Promise<SiteRecordAnswer[]> {
  return Promise.all(
    sites.map((site) =>
      drStateAt(site)
        .readDrState({ runbook })
        .catch((err: unknown): SiteRecordAnswer => ({ site, status: 'unreachable', problem: message(err) })),
    ),
  );
}

function message(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string };
  return e?.cause?.message ?? e?.message ?? String(err);
}

const { describeOperations } = proxyActivities<ControllerActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

/** Why a slot was freed, for the operator reading `status` or the evidence. */
function closedReason(s: OperationStatus, phase: string, why: string): string {
  const how =
    s.status === 'NOT_FOUND' ? 'is gone from Temporal' : `was ${s.status.toLowerCase().replace('_', ' ')}`;
  const when = s.closedAt ? ` (closed ${s.closedAt})` : '';
  const left = s.status === 'COMPLETED' ? '' : `; the runbook stays ${phase}: check where its VMs run`;
  return `${s.id} ${how}${when} without reporting to its controller; slot freed on ${why}${left}`;
}

/** Throws a signed decision's refusal as the Update's (non-retryable) failure. */
function refuseWith(refusal: { code: string; message: string; hint?: string } | undefined): void {
  if (!refusal) return;
  throw ApplicationFailure.create({
    type: refusal.code,
    message: refusal.message,
    nonRetryable: true,
    details: [{ hint: refusal.hint }],
  });
}

/**
 * The record of an operator decision the controller took: from the signed decision when there is
 * one (its operator, the first of `roles` that holds them, its reason, time and signature), else
 * unsigned, naming `by` (a runbook that names no operators takes a reason alone).
 */
function decisionRecord(
  signed: AnySignedDecision | undefined,
  d: {
    stepId: string;
    group: string;
    decision: OperatorChoice;
    people: { roles: Record<string, string[]> } | undefined;
    roles: readonly string[];
    reason: string;
    by?: string;
  },
): ApprovalRecord {
  const operator = signed?.payload ? signed.operator : undefined;
  const role = operator ? d.roles.find((r) => d.people?.roles[r]?.includes(operator)) : undefined;
  return {
    stepId: d.stepId,
    group: d.group,
    decision: d.decision,
    operator: operator ?? (typeof d.by === 'string' && d.by !== '' ? d.by : 'unsigned'),
    role: role ?? '',
    reason: signed?.payload ? signed.payload.reason : d.reason,
    signedAt: signed?.payload ? signed.payload.time : '',
    recordedAt: new Date().toISOString(),
    signature: signed?.signature ?? '',
  };
}

export function initialRunbookState(runbook: string): RunbookState {
  return {
    runbook,
    protection: 'off',
    activeSite: 'primary',
    phase: 'normal',
    inFlight: [],
    heldPoints: {},
    counters: {},
    recent: [],
  };
}

/** The input of the child workflow that runs an admitted request. */
function childStart(
  req: StartOperationRequest,
  id: string,
  controllerId: string,
):
  | { kind: 'replication'; input: ReplicationCycleInput }
  | { kind: 'reprotect'; input: ReprotectInput }
  | { kind: Exclude<StartOperationRequest['kind'], 'replication' | 'reprotect'>; input: OperationInput } {
  const { kind, plan } = req;
  if (kind === 'replication') {
    const options = { maxConcurrentTransfers: req.options?.maxConcurrentTransfers };
    return { kind, input: { id, plan, controllerId, options } };
  }
  const requestedBy = req.requestedBy === undefined ? {} : { requestedBy: req.requestedBy };
  if (kind === 'reprotect') return { kind, input: { id, plan, controllerId, ...requestedBy } };
  return { kind, input: { id, kind, plan, controllerId, options: req.options, ...requestedBy } };
}

export async function runbookController(input: ControllerInput): Promise<void> {
  // (Not compared with workflowInfo().workflowId: replay runs a history under another id.)
  if (!input || typeof input.runbook !== 'string' || input.runbook === '') {
    throw ApplicationFailure.nonRetryable('controller input needs {runbook}', BAD_INPUT);
  }
  const state: RunbookState = input.state ?? initialRunbookState(input.runbook);
  const durableOn = patched(DR_STATE_PATCH);
  if (durableOn && !state.durable) {
    // A fresh controller reads the sites' records before it admits anything; one continued from
    // a controller that kept none holds its whole state already and starts the record at 1.
    state.durable = {
      version: 0,
      digest: '',
      sites: input.sites ?? [],
      acked: {},
      ...(input.state === undefined ? { pendingRestore: true as const } : {}),
    };
  }
  let lastPhase = '';
  const publish = (): void => {
    if (state.phase !== lastPhase) {
      lastPhase = state.phase;
      upsertSearchAttributes([
        { key: SA.runbook, value: state.runbook },
        { key: SA.state, value: state.phase },
      ]);
    }
    const running = state.inFlight.map((o) => `${o.kind} ${o.id}`).join(', ') || 'nothing';
    setCurrentDetails(
      `**runbook ${state.runbook}**: ${state.phase}, active site ${state.activeSite}, in flight: ${running}` +
        (state.fence ? `\nfence: ${state.fence.site} (${state.fence.reason})` : ''),
    );
  };

  /** While the sites' records disagree, nothing may start: where production runs is not known. */
  const refuseWhileDisputed = (): void => {
    const dispute = state.durable?.dispute;
    if (!dispute) return;
    throw ApplicationFailure.create({
      type: 'DR_STATE_DISPUTED',
      message: `the DR state of runbook ${state.runbook} kept at its sites is in dispute, so this controller does not know where production runs: ${dispute.found.join('; ')}`,
      nonRetryable: true,
      details: [
        {
          hint: 'compare the sites\' records (lifeboat status shows them), then an operator picks one: lifeboat dr-state accept <runbook file> --site <name> --reason "why"',
          found: dispute.found,
        },
      ],
    });
  };

  const validateStart = (req: StartOperationRequest): void => {
    if (!req || typeof req !== 'object' || !req.plan || typeof req.plan !== 'object') {
      throw ApplicationFailure.nonRetryable('startOperation needs {kind, plan}', BAD_INPUT);
    }
    refuseWhileDisputed();
    if (req.plan.version !== PLAN_VERSION) {
      throw ApplicationFailure.nonRetryable(
        `plan version ${String(req.plan.version)} unsupported`,
        BAD_INPUT,
      );
    }
    if (req.plan.runbook?.name !== state.runbook) {
      throw ApplicationFailure.nonRetryable(
        `plan is for runbook ${String(req.plan.runbook?.name)}, this controller is ${state.runbook}`,
        BAD_INPUT,
      );
    }
    if (!['drill', 'failover', 'failback', 'replication', 'reprotect'].includes(req.kind)) {
      throw ApplicationFailure.nonRetryable(`unknown operation ${String(req.kind)}`, BAD_INPUT);
    }
    const a = admitOperation(state.phase, state.inFlight, req.kind);
    if (!a.ok) {
      throw ApplicationFailure.create({
        type: a.code,
        message: a.message,
        nonRetryable: true,
        details: [{ hint: a.hint, conflictsWith: a.conflictsWith }],
      });
    }
  };

  /**
   * Refuses a Plan whose operators, roles or keys differ from the pinned ones: whoever may start
   * an operation must not be able to add their own key as an approver.
   */
  const refuseChangedPeople = (plan: Plan): void => {
    const pinned = state.people;
    if (!pinned) return;
    const offered = peopleOf(plan);
    const fingerprint = peopleFingerprint(offered);
    if (fingerprint === pinned.fingerprint) return;
    const diff = peopleDiff(pinned, offered);
    const roles = administeringRoles(pinned);
    throw ApplicationFailure.create({
      type: 'PEOPLE_CHANGED',
      message: `the Plan changes the operators, roles or keys pinned for runbook ${state.runbook}: ${diff.join('; ')}`,
      nonRetryable: true,
      details: [
        {
          hint: `an operator holding ${roles.join(' or ') || '(no role)'} (${holdersOf(roles, pinned.roles).join(', ') || 'nobody'}) signs the change first: lifeboat operator approve-change <runbook file> --reason "why"`,
          pinned: pinned.fingerprint,
          offered: fingerprint,
          diff,
        },
      ],
    });
  };

  /** The id the next operation of `kind` gets (its counter is bumped when it is admitted). */
  const nextOperationId = (kind: StartOperationRequest['kind']): string =>
    operationWorkflowId(state.runbook, kind, (state.counters[kind] ?? 0) + 1);

  /**
   * A controller started without a state (its predecessor terminated, reset, its history lost)
   * restores it from the sites' records before it admits anything: the newest record that
   * verifies, or a dispute when the sites disagree. Operations the record names as in flight are
   * then described, and freed if they closed meanwhile.
   */
  let restoring: Promise<void> | undefined;
  const restoreFromSites = async (book: DurableBook): Promise<void> => {
    const answers = await readSites(book.sites, state.runbook);
    const at = new Date().toISOString();
    const chosen = chooseRecord(state.runbook, answers);
    if (chosen.dispute.length > 0) {
      const versions = Object.fromEntries(
        answers.map((a) => [
          a.site,
          a.status === 'found' ? a.record.version : a.status === 'unverified' ? a.version : 0,
        ]),
      );
      book.dispute = { at, found: chosen.dispute, versions };
    } else if (chosen.record) {
      const { recent, planHash } = state;
      Object.assign(state, restoredState(state.runbook, chosen.record), { recent });
      if (planHash) state.planHash = planHash;
      book.version = chosen.record.version;
      book.digest = drStateDigest(chosen.record.state);
      book.record = chosen.record;
      for (const a of answers) {
        if (a.status === 'found') book.acked[a.site] = { version: a.record.version, at };
      }
    }
    book.restored = {
      at,
      ...(chosen.from ? { from: chosen.from, version: chosen.record?.version } : {}),
      notes: chosen.notes,
    };
    delete book.pendingRestore;
    publish();
    if (chosen.record && state.inFlight.length > 0) {
      await reconcile('the controller restored its state from the sites');
    }
  };
  /** Restores first when this controller still has to; true when it did (re-check the request). */
  const ensureRestored = async (plan?: Plan): Promise<boolean> => {
    const book = state.durable;
    if (!book) return false;
    if (book.sites.length === 0 && plan?.sites) {
      book.sites = [plan.sites.primary.name, plan.sites.secondary.name];
    }
    if (!book.pendingRestore || book.sites.length === 0) return false;
    restoring ??= restoreFromSites(book);
    await restoring;
    return true;
  };

  setHandler(runbookStateQuery, () => state);
  setHandler(
    startOperationUpdate,
    async (req) => {
      validateStart(req);
      if (await ensureRestored(req.plan)) {
        validateStart(req);
        refuseChangedPeople(req.plan);
      }
      // The first operation pins who may decide; later Plans must match (checked by the validator).
      if (!state.people) state.people = pin(req.plan);
      const admission = admitOperation(state.phase, state.inFlight, req.kind);
      const id = nextOperationId(req.kind);
      state.counters[req.kind] = (state.counters[req.kind] ?? 0) + 1;
      // Reserve the slot before the first await so a racing request sees the conflict.
      state.inFlight.push({
        id,
        kind: req.kind,
        startedAt: new Date().toISOString(),
        planHash: req.plan.hash,
      });
      state.planHash = req.plan.hash;
      publish();
      if (admission.ok) {
        for (const p of admission.preempt) {
          await getExternalWorkflowHandle(p.id)
            .cancel()
            .catch(() => {});
        }
      }
      try {
        const controllerId = workflowInfo().workflowId;
        const common = {
          workflowId: id,
          // Operations outlive a continue-as-new of the controller; they report back by signal.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          typedSearchAttributes: [
            { key: SA.runbook, value: state.runbook },
            { key: SA.operation, value: req.kind },
            { key: SA.state, value: 'running' },
          ],
        };
        const child = childStart(req, id, controllerId);
        if (child.kind === 'replication') {
          await startChild(replicationCycleWorkflow, { ...common, args: [child.input] });
        } else if (child.kind === 'reprotect') {
          await startChild(reprotectWorkflow, { ...common, args: [child.input] });
        } else {
          await startChild(operationWorkflow, { ...common, args: [child.input] });
        }
      } catch (err) {
        state.inFlight = state.inFlight.filter((o) => o.id !== id);
        publish();
        throw ApplicationFailure.nonRetryable(
          `could not start ${id}: ${err instanceof Error ? err.message : String(err)}`,
          'START_FAILED',
        );
      }
      return { id, kind: req.kind };
    },
    {
      validator: (req: StartOperationRequest) => {
        validateStart(req);
        refuseChangedPeople(req.plan);
        // Refuse here whatever the child would refuse at its start: a child that fails its own
        // input check never reports back, and would stay in flight, blocking the runbook.
        const controllerId = workflowInfo().workflowId;
        const child = childStart(req, nextOperationId(req.kind), controllerId);
        const problems =
          child.kind === 'replication'
            ? validateReplicationCycleInput(child.input, controllerId)
            : child.kind === 'reprotect'
              ? validateReprotectInput(child.input, controllerId)
              : validateOperationInput(child.input, controllerId);
        if (problems.length > 0) {
          throw ApplicationFailure.nonRetryable(
            `${req.kind} refused: ${problems.slice(0, 5).join('; ')}`,
            BAD_INPUT,
          );
        }
      },
    },
  );
  /** The signed cancel of `op`, checked against the pinned people; undefined when it may go on. */
  const cancelRefusal = (op: OperationRef, signed: AnySignedDecision | undefined) => {
    const pinned = state.people;
    // Cycles come and go by the schedule; a runbook that names no operators takes a reason alone.
    if (op.kind === 'replication' || !pinned || Object.keys(pinned.operators).length === 0) return undefined;
    if (!signed || typeof signed !== 'object' || !signed.payload) {
      return {
        code: 'UNSIGNED',
        message: `cancelling ${op.id} is an operator decision: runbook ${state.runbook} names operators, so it must be signed`,
        hint: 'lifeboat cancel <runbook> <operation> --reason "why" --operator <name> (with that operator\'s key)',
      };
    }
    return checkOperatorDecision(signed, {
      workflowId: workflowInfo().workflowId,
      stepId: cancelStepId(op.id),
      now: Date.now(),
      operators: pinned.operators,
      roles: pinned.roles,
      seenSignatures: new Set(),
      decisions: ['cancel'],
      eligible: Object.keys(pinned.roles),
      since: Date.parse(op.startedAt),
      what: 'cancel',
    });
  };
  setHandler(
    cancelOperationUpdate,
    async ({ id, reason, signed, by }) => {
      const op = state.inFlight.find((o) => o.id === id);
      const decision = op
        ? decisionRecord(signed, {
            stepId: signed?.payload ? signed.payload.stepId : cancelStepId(id),
            group: '(operation)',
            decision: 'cancel',
            people: state.people,
            roles: Object.keys(state.people?.roles ?? {}),
            reason,
            by,
          })
        : undefined;
      if (op && decision) op.cancelledBy = decision;
      if (patched(RECONCILE_PATCH)) {
        // A child that already closed cannot be cancelled: free its slot and say how it ended.
        const [ended] = await reconcile(`cancel (${reason})`, [id]);
        if (ended) return { id, ended };
      }
      if (decision && op?.kind !== 'replication' && patched(CANCEL_DECISION_PATCH)) {
        await getExternalWorkflowHandle(id)
          .signal(cancelDecisionSignal, decision)
          .catch(() => undefined);
      }
      await getExternalWorkflowHandle(id).cancel();
      return { id, ...(decision ? { decision } : {}) };
    },
    {
      validator: ({ id, reason, signed }) => {
        if (!state.inFlight.some((o) => o.id === id)) {
          const past = state.recent.find((o) => o.id === id);
          if (past) {
            throw ApplicationFailure.create({
              type: 'ALREADY_ENDED',
              message: `${id} already ended: ${past.outcome} at ${past.endedAt}${past.reconciled ? ` (${past.reconciled.reason})` : ''}`,
              nonRetryable: true,
              details: [{ hint: 'nothing to cancel; see lifeboat status', outcome: past.outcome }],
            });
          }
          throw ApplicationFailure.nonRetryable(`no operation ${id} is in flight`, 'NOT_IN_FLIGHT');
        }
        if (typeof reason !== 'string' || reason.trim() === '') {
          throw ApplicationFailure.nonRetryable('a cancellation needs a reason', 'NO_REASON');
        }
        const op = state.inFlight.find((o) => o.id === id);
        const refusal = op ? cancelRefusal(op, signed) : undefined;
        refuseWith(refusal);
      },
    },
  );
  setHandler(operationMilestoneSignal, ({ id, milestone, by, reason }) => {
    const op = state.inFlight.find((o) => o.id === id);
    if (op?.kind !== 'failover') return;
    if (milestone === 'fenced') {
      // A disaster failover fences the primary first: who asked, and why, stay in the state.
      state.fence = {
        site: 'primary',
        reason: reason ?? `fenced by ${id}`,
        since: new Date().toISOString(),
        ...(by ? { by } : {}),
      };
      publish();
    }
    if (milestone === 'failed-over-uncommitted') {
      state.phase = 'failed-over-uncommitted';
      state.activeSite = 'secondary';
      if (state.fence?.by === undefined) {
        state.fence = { site: 'primary', reason: `${id} awaits commit`, since: new Date().toISOString() };
      }
      publish();
    }
  });
  // The fenced site's own worker enforced the fence (workflows/fence.ts): recorded with it.
  setHandler(fenceEnforcedSignal, ({ operationId, site, enforcedAt, vms }) => {
    if (!state.fence?.reason.includes(operationId)) return;
    state.fence = { ...state.fence, enforced: { at: enforcedAt, site, vms } };
    publish();
  });
  // An operator lifted the fence at the site (`lifeboat unfence`, signed): the fence goes.
  setHandler(fenceLiftedSignal, ({ id, site, by, reason, at }) => {
    state.fence = undefined;
    state.unfenced = { id, site, by, reason, at };
    publish();
  });
  // A planned failover's final cycle: started here (every child of the runbook is), past the
  // admission table that refuses replication beside a failover, and reported back to it.
  setHandler(finalCycleSignal, async ({ id, plan }) => {
    const op = state.inFlight.find((o) => o.id === id);
    if (op?.kind !== 'failover' || state.inFlight.some((o) => o.forOperation === id)) return;
    const cycleId = nextOperationId('replication');
    state.counters.replication = (state.counters.replication ?? 0) + 1;
    state.inFlight.push({
      id: cycleId,
      kind: 'replication',
      startedAt: new Date().toISOString(),
      planHash: plan.hash,
      forOperation: id,
    });
    publish();
    const controllerId = workflowInfo().workflowId;
    try {
      await startChild(replicationCycleWorkflow, {
        workflowId: cycleId,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: SA.runbook, value: state.runbook },
          { key: SA.operation, value: 'replication' },
          { key: SA.state, value: 'running' },
        ],
        args: [{ id: cycleId, plan, controllerId }],
      });
    } catch (err) {
      state.inFlight = state.inFlight.filter((o) => o.id !== cycleId);
      publish();
      await getExternalWorkflowHandle(id)
        .signal(finalCycleDoneSignal, {
          cycleId,
          outcome: 'failed',
          error: `could not start ${cycleId}: ${err instanceof Error ? err.message : String(err)}`,
        })
        .catch(() => undefined);
    }
  });
  setHandler(pointsHeldSignal, ({ id, points }) => {
    if (!state.inFlight.some((o) => o.id === id)) return;
    state.heldPoints[id] = [...new Set([...(state.heldPoints[id] ?? []), ...points])];
    publish();
  });
  /**
   * Ends an operation in the state. `reconciled`: it closed without signalling; only a completed
   * one (whose result says how it ended) moves the phase, anything else leaves it to an operator.
   */
  const finishOperation = (f: OperationFinished, reconciled?: OperationSummary['reconciled']): void => {
    const op = state.inFlight.find((o) => o.id === f.id);
    if (!op) return;
    state.inFlight = state.inFlight.filter((o) => o.id !== f.id);
    delete state.heldPoints[f.id];
    const now = new Date().toISOString();
    const ok = f.outcome === 'succeeded' || f.outcome === 'partial';
    const phaseKnown = reconciled === undefined || reconciled.status === 'COMPLETED';
    if (!phaseKnown) {
      // Terminated or failed without a word: what it left at the sites is not known here.
    } else if (op.kind === 'failover') {
      if (ok) {
        state.phase = 'failed-over-committed';
        state.activeSite = 'secondary';
        // Keep who fenced and what the site enforced; the reason names the committed failover.
        state.fence = { ...state.fence, site: 'primary', reason: `failed over by ${f.id}`, since: now };
      } else if (state.phase === 'failed-over-uncommitted' || state.fence?.reason.includes(f.id)) {
        // Rolled back (or stopped) before its commit: the fence it set goes with it.
        state.phase = 'normal';
        state.activeSite = 'primary';
        state.fence = undefined;
      }
    } else if (op.kind === 'failback' && ok) {
      state.phase = 'failed-back';
      state.activeSite = 'primary';
      state.fence = { site: 'secondary', reason: `failed back by ${f.id}`, since: now };
      // Protection runs in the original direction again (the failback resumed its Schedules).
      state.protectionDirection = { from: 'primary', to: 'secondary', since: now, by: f.id };
    } else if (op.kind === 'reprotect' && f.outcome === 'succeeded') {
      // The old primary's disks now equal the active site's: protection runs toward it.
      state.protectionDirection = { from: state.activeSite, to: 'primary', since: now, by: f.id };
    } else if (op.kind === 'replication' && f.outcome === 'succeeded') {
      // Every VM has a committed point at the secondary: the runbook is protected, and the RPO
      // is measured from here (a partial cycle leaves some VMs as exposed as before).
      state.protection = 'on';
      state.protectedAt = now;
    }
    const summary: OperationSummary = {
      ...op,
      outcome: f.outcome,
      endedAt: now,
      error: f.error,
      decisions: f.decisions,
      ...(f.verdict ? { verdict: f.verdict } : {}),
      ...(f.evidencePath ? { evidencePath: f.evidencePath } : {}),
      ...(f.report ? { report: f.report } : {}),
      ...(reconciled ? { reconciled } : {}),
    };
    if (f.report) state.reportHead = { id: f.report.id, sha256: f.report.sha256 };
    if (op.forOperation) {
      void getExternalWorkflowHandle(op.forOperation)
        .signal(finalCycleDoneSignal, {
          cycleId: f.id,
          outcome: f.outcome,
          ...(f.error ? { error: f.error } : {}),
        })
        .catch(() => undefined);
    }
    state.recent = [...state.recent, summary].slice(-RECENT_KEPT);
    publish();
  };
  setHandler(operationFinishedSignal, (f) => finishOperation(f));

  /** Frees the slots of `ids` (default: every one in flight) whose workflows have closed. */
  const reconcile = async (why: string, ids?: string[]): Promise<ReconciledOperation[]> => {
    const asked = state.inFlight.filter((o) => !ids || ids.includes(o.id)).map((o) => o.id);
    if (asked.length === 0) return [];
    const statuses = await describeOperations({ ids: asked });
    const freed: ReconciledOperation[] = [];
    for (const s of statuses) {
      const op = state.inFlight.find((o) => o.id === s.id);
      // Still running, or its finished signal arrived while we asked: nothing to free.
      if (!op || s.status === 'RUNNING') continue;
      const reason = closedReason(s, state.phase, why);
      const outcome = s.outcome ?? (s.status === 'CANCELLED' ? 'cancelled' : 'failed');
      const error = s.status === 'COMPLETED' ? s.error : (s.error ?? reason);
      finishOperation(
        { ...s.finished, id: s.id, outcome, ...(error ? { error } : {}) },
        { status: s.status, reason },
      );
      freed.push({ id: s.id, kind: op.kind, status: s.status, reason });
    }
    return freed;
  };
  /** The pinned set a change would replace, and the step id its signature must name. */
  const peopleChangeStep = (plan: Plan) => {
    const pinned = state.people;
    const people = peopleOf(plan);
    const offered = peopleFingerprint(people);
    if (!pinned) return undefined;
    // A set pinned with no operator at all has nobody to sign its change: the first operators
    // sign it themselves, with the keys the new set names (a runbook that took unsigned
    // decisions gains signatures; nobody loses a say they had).
    const signers = Object.keys(pinned.operators).length > 0 ? pinned : people;
    return { pinned, offered, signers, stepId: peopleChangeStepId(pinned.fingerprint, offered) };
  };
  setHandler(
    changePeopleUpdate,
    async ({ plan, signed }) => {
      // The validator checked plan, signature and role (and is skipped on replay): state only here.
      if (await ensureRestored(plan)) refuseWhileDisputed();
      const step = peopleChangeStep(plan);
      if (!step || signed.payload.stepId !== step.stepId) {
        throw ApplicationFailure.nonRetryable(
          'the pinned people changed meanwhile; sign again',
          'WRONG_STEP',
        );
      }
      const change: PeopleChange = {
        ...decisionRecord(signed, {
          stepId: step.stepId,
          group: '',
          decision: 'change-people',
          people: step.signers,
          roles: administeringRoles(step.signers),
          reason: signed.payload.reason,
        }),
        from: step.pinned.fingerprint,
        to: step.offered,
        diff: peopleDiff(step.pinned, peopleOf(plan)),
      };
      state.people = pin(plan, [...step.pinned.changes, change].slice(-PEOPLE_CHANGES_KEPT));
      publish();
      return change;
    },
    {
      validator: ({ plan, signed }) => {
        if (!plan || typeof plan !== 'object' || plan.version !== PLAN_VERSION || !verifyPlanHash(plan)) {
          throw ApplicationFailure.nonRetryable('changePeople needs a valid Plan (version, hash)', BAD_INPUT);
        }
        if (plan.runbook?.name !== state.runbook) {
          throw ApplicationFailure.nonRetryable(
            `plan is for runbook ${String(plan.runbook?.name)}, this controller is ${state.runbook}`,
            BAD_INPUT,
          );
        }
        const step = peopleChangeStep(plan);
        if (!step) {
          throw ApplicationFailure.nonRetryable(
            `nothing is pinned for runbook ${state.runbook} yet: its first operation pins the Plan's people`,
            'NOT_PINNED',
          );
        }
        if (step.offered === step.pinned.fingerprint) {
          throw ApplicationFailure.nonRetryable(
            `the Plan's people are the pinned ones (${step.offered})`,
            'NO_CHANGE',
          );
        }
        if (!signed || typeof signed !== 'object' || !signed.payload) {
          throw ApplicationFailure.nonRetryable('a people change must be signed', 'BAD_SIGNATURE');
        }
        const refusal = checkOperatorDecision(signed, {
          workflowId: workflowInfo().workflowId,
          stepId: step.stepId,
          now: Date.now(),
          operators: step.signers.operators,
          roles: step.signers.roles,
          seenSignatures: new Set(step.pinned.changes.map((c) => c.signature)),
          decisions: ['change-people'],
          eligible: administeringRoles(step.signers),
          since: Date.parse(step.pinned.pinnedAt),
          what: 'people change',
        });
        refuseWith(refusal);
      },
    },
  );
  /** The people the accepted record pins decide the acceptance; none pinned: a reason suffices. */
  const acceptanceRefusal = (
    people: PinnedPeople | undefined,
    stepId: string,
    signed: AnySignedDecision | undefined,
    since: number,
  ) => {
    if (!people || Object.keys(people.operators).length === 0) return undefined;
    if (!signed || typeof signed !== 'object' || !signed.payload) {
      return {
        code: 'UNSIGNED',
        message: `accepting a DR-state record of runbook ${state.runbook} is an operator decision: the record names operators, so it must be signed`,
        hint: 'lifeboat dr-state accept <runbook> --site <name> --reason "why" --operator <name>',
      };
    }
    return checkOperatorDecision(signed, {
      workflowId: workflowInfo().workflowId,
      stepId,
      now: Date.now(),
      operators: people.operators,
      roles: people.roles,
      seenSignatures: new Set(),
      decisions: ['accept-dr-state'],
      eligible: administeringRoles(people),
      since,
      what: 'DR-state acceptance',
    });
  };
  setHandler(
    acceptDrStateUpdate,
    async ({ site, reason, signed, by }) => {
      const book = state.durable;
      const dispute = book?.dispute;
      if (!book || !dispute) {
        throw ApplicationFailure.nonRetryable(
          `the DR state of ${state.runbook} is not in dispute`,
          'NOT_DISPUTED',
        );
      }
      // The records are read again now: what the operator accepts is what the site holds.
      const answers = await readSites(book.sites, state.runbook);
      const chosen = answers.find((a) => a.site === site);
      if (chosen?.status !== 'found' && chosen?.status !== 'none') {
        throw ApplicationFailure.create({
          type: 'NOT_ACCEPTABLE',
          message: `site ${site}'s record cannot be accepted: ${chosen?.status === 'unverified' ? `${chosen.path} does not verify (${chosen.problem})` : (chosen?.problem ?? 'no answer')}`,
          nonRetryable: true,
          details: [{ hint: 'accept the record of a site that holds one that verifies' }],
        });
      }
      const version = chosen.status === 'found' ? chosen.record.version : 0;
      const stepId = acceptDrStateStepId(site, version);
      const people = chosen.status === 'found' ? chosen.record.state.people : undefined;
      const refusal = acceptanceRefusal(people, stepId, signed, Date.parse(dispute.at));
      refuseWith(refusal);
      const acceptance: DrStateAcceptance = {
        site,
        version,
        settled: dispute.found,
        decision: decisionRecord(signed, {
          stepId,
          group: '(runbook)',
          decision: 'accept-dr-state',
          people,
          roles: people ? administeringRoles(people) : [],
          reason,
          by,
        }),
      };
      const { recent } = state;
      const base =
        chosen.status === 'found'
          ? restoredState(state.runbook, chosen.record)
          : initialRunbookState(state.runbook);
      Object.assign(state, base, { recent });
      // Past every version either site holds (a planted one included), so the next write is the newest.
      const held = answers.map((a) =>
        a.status === 'found' ? a.record.version : a.status === 'unverified' ? a.version : 0,
      );
      book.version = Math.max(book.version, ...held);
      book.digest = '';
      book.acked = {};
      delete book.record;
      delete book.dispute;
      book.accepted = acceptance;
      publish();
      if (state.inFlight.length > 0) await reconcile(`accepted site ${site}'s DR-state record`);
      return acceptance;
    },
    {
      validator: ({ site, reason }) => {
        if (!state.durable?.dispute) {
          throw ApplicationFailure.nonRetryable(
            `the DR state of ${state.runbook} is not in dispute`,
            'NOT_DISPUTED',
          );
        }
        if (typeof site !== 'string' || !state.durable.sites.includes(site)) {
          throw ApplicationFailure.nonRetryable(
            `site ${String(site)} is not one of runbook ${state.runbook}'s sites (${state.durable.sites.join(', ')})`,
            BAD_INPUT,
          );
        }
        if (typeof reason !== 'string' || reason.trim() === '') {
          throw ApplicationFailure.nonRetryable('accepting a DR-state record needs a reason', 'NO_REASON');
        }
      },
    },
  );
  setHandler(reconcileUpdate, ({ reason }) =>
    reconcile(typeof reason === 'string' && reason.trim() !== '' ? reason : 'request'),
  );
  publish();

  /** When a site that missed a version is next offered the newest one. */
  let retrySitesAt = 0;
  const behindSites = (book: DurableBook): string[] =>
    book.sites.filter((s) => (book.acked[s]?.version ?? 0) < book.version);
  const writeDue = (): boolean => {
    const book = state.durable;
    if (!durableOn || !book || book.pendingRestore || book.dispute || book.sites.length === 0) return false;
    if (drStateDigest(drStateOf(state)) !== book.digest) return true;
    return behindSites(book).length > 0 && Date.now() >= retrySitesAt;
  };
  /** Writes a new version when the state moved, to every site that does not hold it yet. */
  const writeDurable = async (book: DurableBook): Promise<void> => {
    const view: DrState = drStateOf(state);
    const digest = drStateDigest(view);
    if (digest !== book.digest || !book.record) {
      book.version += 1;
      book.digest = digest;
      book.record = {
        format: DR_STATE_FORMAT,
        runbook: state.runbook,
        version: book.version,
        writtenAt: new Date().toISOString(),
        cause:
          !book.record && book.accepted
            ? `dispute settled: ${book.accepted.decision.operator} accepted site ${book.accepted.site}'s version ${book.accepted.version} (${book.accepted.decision.reason})`
            : drStateDiff(book.record?.state, view).join('; ') || 'state recorded',
        state: view,
      };
    }
    const record = book.record;
    const outcomes = await Promise.all(
      behindSites(book).map((site) =>
        drStateAt(site)
          .writeDrState({ record })
          .then(
            (o) => ({ site, o, error: undefined }),
            (err: unknown) => ({ site, o: undefined, error: message(err) }),
          ),
      ),
    );
    const at = new Date().toISOString();
    for (const { site, o, error } of outcomes) {
      if (o?.status === 'conflict') {
        // The site holds a newer record, or another one of this version: this controller is not
        // the newest word on the runbook (it was reset, or a second one writes). Stop and say so.
        book.dispute = {
          at,
          versions: { [site]: o.held },
          found: [
            `site ${site} holds version ${o.held} (${o.heldDigest}) where this controller wrote version ${o.version}: the controller was reset or another one writes for this runbook`,
          ],
        };
      } else if (o) {
        book.acked[site] = { version: o.version, at };
      } else {
        book.acked[site] = { version: book.acked[site]?.version ?? 0, at, error: error ?? 'failed' };
      }
    }
    if (behindSites(book).length > 0) retrySitesAt = Date.now() + DR_STATE_RETRY_MS;
    publish();
  };

  const limit = input.continueAsNewAfterEvents;
  const continueDue = () =>
    workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength >= limit);
  if (!durableOn) {
    await condition(continueDue);
  } else {
    if (state.durable?.pendingRestore && state.durable.sites.length > 0) await ensureRestored();
    for (;;) {
      const book = state.durable;
      const waitMs =
        book && behindSites(book).length > 0 ? Math.max(1_000, retrySitesAt - Date.now()) : undefined;
      if (waitMs === undefined) await condition(() => continueDue() || writeDue());
      else await condition(() => continueDue() || writeDue(), waitMs);
      if (book && writeDue()) {
        await writeDurable(book);
        continue;
      }
      if (continueDue()) break;
    }
  }
  // Let running Update handlers finish so no admitted request is lost across the new run.
  await condition(allHandlersFinished);
  await continueAsNew<typeof runbookController>({
    runbook: state.runbook,
    state,
    continueAsNewAfterEvents: limit,
  });
}
