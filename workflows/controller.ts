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
import { holdersOf } from '../approvals/deciders.ts';
import {
  administeringRoles,
  peopleChangeStepId,
  peopleDiff,
  peopleFingerprint,
  peopleOf,
} from '../approvals/people.ts';
import { checkOperatorDecision } from '../approvals/verify.ts';
import { operationWorkflowId } from '../platform/names.ts';
import { verifyPlanHash } from '../runbooks/hash.ts';
import { PLAN_VERSION, type Plan } from '../runbooks/plan.ts';
import { admitOperation } from './admission.ts';
import { BAD_INPUT } from './guard.ts';
import { operationWorkflow } from './interpreter.ts';
import {
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
import type {
  ControllerInput,
  OperationInput,
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

  const validateStart = (req: StartOperationRequest): void => {
    if (!req || typeof req !== 'object' || !req.plan || typeof req.plan !== 'object') {
      throw ApplicationFailure.nonRetryable('startOperation needs {kind, plan}', BAD_INPUT);
    }
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

  setHandler(runbookStateQuery, () => state);
  setHandler(
    startOperationUpdate,
    async (req) => {
      validateStart(req);
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
  setHandler(
    cancelOperationUpdate,
    async ({ id, reason }) => {
      if (patched(RECONCILE_PATCH)) {
        // A child that already closed cannot be cancelled: free its slot and say how it ended.
        const [ended] = await reconcile(`cancel (${reason})`, [id]);
        if (ended) return { id, ended };
      }
      await getExternalWorkflowHandle(id).cancel();
      return { id };
    },
    {
      validator: ({ id, reason }) => {
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
    const offered = peopleFingerprint(peopleOf(plan));
    return pinned ? { pinned, offered, stepId: peopleChangeStepId(pinned.fingerprint, offered) } : undefined;
  };
  setHandler(
    changePeopleUpdate,
    ({ plan, signed }) => {
      // The validator checked plan, signature and role (and is skipped on replay): state only here.
      const step = peopleChangeStep(plan);
      if (!step || signed.payload.stepId !== step.stepId) {
        throw ApplicationFailure.nonRetryable(
          'the pinned people changed meanwhile; sign again',
          'WRONG_STEP',
        );
      }
      const role = administeringRoles(step.pinned).find((r) =>
        step.pinned.roles[r]?.includes(signed.operator),
      );
      const change: PeopleChange = {
        stepId: step.stepId,
        group: '',
        decision: 'change-people',
        operator: signed.operator,
        role: role ?? '',
        reason: signed.payload.reason,
        signedAt: signed.payload.time,
        recordedAt: new Date().toISOString(),
        signature: signed.signature,
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
          operators: step.pinned.operators,
          roles: step.pinned.roles,
          seenSignatures: new Set(step.pinned.changes.map((c) => c.signature)),
          decisions: ['change-people'],
          eligible: administeringRoles(step.pinned),
          since: Date.parse(step.pinned.pinnedAt),
          what: 'people change',
        });
        if (refusal) {
          throw ApplicationFailure.create({
            type: refusal.code,
            message: refusal.message,
            nonRetryable: true,
            details: [{ hint: refusal.hint }],
          });
        }
      },
    },
  );
  setHandler(reconcileUpdate, ({ reason }) =>
    reconcile(typeof reason === 'string' && reason.trim() !== '' ? reason : 'request'),
  );
  publish();

  const limit = input.continueAsNewAfterEvents;
  await condition(
    () =>
      workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength >= limit),
  );
  // Let running Update handlers finish so no admitted request is lost across the new run.
  await condition(allHandlersFinished);
  await continueAsNew<typeof runbookController>({
    runbook: state.runbook,
    state,
    continueAsNewAfterEvents: limit,
  });
}
