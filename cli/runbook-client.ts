/**
 * Client-side calls to a runbook's controller and its operations, shared by the CLI commands
 * and the integration tests: start an operation (the controller is started on first use),
 * read state and progress, find a waiting gate or pause and send a signed decision to it.
 */
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { type OperatorKey, signAnyDecision, signDecision } from '../approvals/keys.ts';
import {
  acceptDrStateStepId,
  COMMIT_STEP,
  cancelStepId,
  type GateDecision,
  type PauseChoice,
} from '../approvals/payload.ts';
import { peopleChangeStepId, peopleFingerprint, peopleOf } from '../approvals/people.ts';
import { controllerWorkflowId, ORCHESTRATOR_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../platform/names.ts';
import { operationStatus } from '../platform/operation-status.ts';
import type { OperationKind, Plan } from '../runbooks/plan.ts';
import {
  acceptDrStateUpdate,
  approvalUpdate,
  cancelOperationUpdate,
  changePeopleUpdate,
  commitUpdate,
  progressQuery,
  reconcileUpdate,
  runbookStateQuery,
  signedCommitUpdate,
  signedPauseDecisionUpdate,
  startOperationUpdate,
} from '../workflows/messages.ts';
import type {
  ApprovalRecord,
  DrStateAcceptance,
  GateView,
  OperationOptions,
  OperationProgress,
  OperationResult,
  PauseView,
  PeopleChange,
  ReconciledOperation,
  RunbookState,
  StartOperationRequest,
  StartOperationResult,
} from '../workflows/types.ts';

/** A request the workflow refused (its Update validator said no); nothing reached history. */
export class RequestRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RequestRefusedError';
  }
}

/**
 * Runs a request (an Update, or a workflow run to its end) and turns the application failure it
 * was refused with into a RequestRefusedError carrying its code, message and hint.
 */
export async function refusalsAsErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const cause =
      err instanceof WorkflowUpdateFailedError || err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure) {
      const details = (cause.details?.[0] ?? {}) as Record<string, unknown>;
      throw new RequestRefusedError(
        cause.type ?? 'REFUSED',
        cause.message,
        typeof details.hint === 'string' ? details.hint : undefined,
        details,
      );
    }
    throw err;
  }
}

/**
 * Starts the runbook's controller if it is not running yet, so an Update can reach it. Given the
 * Plan's sites, a controller that starts fresh reads the DR state they keep at once.
 */
export function controllerStart(runbook: string, taskQueue?: string, plan?: Plan) {
  const sites = plan ? [plan.sites.primary.name, plan.sites.secondary.name] : undefined;
  return new WithStartWorkflowOperation('runbookController', {
    workflowId: controllerWorkflowId(runbook),
    taskQueue: taskQueue ?? ORCHESTRATOR_TASK_QUEUE,
    args: [{ runbook, ...(sites ? { sites } : {}) }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    searchAttributes: { [SEARCH_ATTRIBUTES.runbook]: [runbook] },
  });
}

export async function startOperation(
  client: Client,
  req: {
    plan: Plan;
    kind: StartOperationRequest['kind'];
    options?: OperationOptions;
    requestedBy?: string;
    taskQueue?: string;
  },
): Promise<StartOperationResult> {
  const attempt = () =>
    refusalsAsErrors(() =>
      client.workflow.executeUpdateWithStart(startOperationUpdate, {
        args: [{ kind: req.kind, plan: req.plan, options: req.options, requestedBy: req.requestedBy }],
        startWorkflowOperation: controllerStart(req.plan.runbook.name, req.taskQueue, req.plan),
      }),
    );
  try {
    return await attempt();
  } catch (err) {
    if (!(await reconciledConflict(client, req.plan.runbook.name, err))) throw err;
    return attempt();
  }
}

/**
 * When `err` is a conflict with an operation that has closed without telling its controller
 * (terminated by hand, say), asks the controller to reconcile and says whether it freed a slot.
 * A conflict with a running operation stays a plain refusal: nothing is written to history.
 */
export async function reconciledConflict(client: Client, runbook: string, err: unknown): Promise<boolean> {
  if (!(err instanceof RequestRefusedError) || err.code !== 'CONFLICT') return false;
  const other = (err.details.conflictsWith as { id?: unknown } | undefined)?.id;
  if (typeof other !== 'string') return false;
  if ((await operationStatus(client, other)).status === 'RUNNING') return false;
  const freed = await reconcile(client, runbook, `a new command found ${other} closed`);
  return freed.length > 0;
}

/** Asks the controller to describe its operations in flight and free those that have closed. */
export function reconcile(client: Client, runbook: string, reason: string): Promise<ReconciledOperation[]> {
  return refusalsAsErrors(() =>
    client.workflow
      .getHandle(controllerWorkflowId(runbook))
      .executeUpdate(reconcileUpdate, { args: [{ reason }] }),
  );
}

export function runbookState(client: Client, runbook: string): Promise<RunbookState> {
  return client.workflow.getHandle(controllerWorkflowId(runbook)).query(runbookStateQuery);
}

/**
 * An operation's result once it ends, a failed or cancelled one's too (never rejects). A
 * cancelled workflow brings back no result (Temporal drops the failure's details), so its
 * verdict and evidence come from the summary it sent its controller as it ended.
 */
export async function operationResult(
  client: Client,
  op: { id: string; kind: OperationKind; runbook: string },
): Promise<OperationResult> {
  try {
    return (await client.workflow.getHandle(op.id).result()) as OperationResult;
  } catch (e) {
    const err = e as { cause?: { details?: unknown[]; message?: string; name?: string } };
    const carried = err.cause?.details?.[0] as OperationResult | undefined;
    if (carried) return carried;
    const result: OperationResult = {
      id: op.id,
      kind: op.kind,
      outcome: err.cause?.name === 'CancelledFailure' ? 'cancelled' : 'failed',
      groups: {},
      decisions: [],
      ...(err.cause?.message ? { error: err.cause.message } : {}),
    };
    const summary = await runbookState(client, op.runbook).then(
      (s) => s.recent.find((r) => r.id === op.id),
      () => undefined,
    );
    if (summary?.verdict) result.verdict = summary.verdict;
    if (summary?.evidencePath) result.evidencePath = summary.evidencePath;
    if (summary?.report) result.report = summary.report;
    return result;
  }
}

export function operationProgress(client: Client, operationId: string): Promise<OperationProgress> {
  return client.workflow.getHandle(operationId).query(progressQuery);
}

/** The progress of the runbook's operations in flight (drills, failovers, failbacks). */
async function inFlightProgress(client: Client, runbook: string): Promise<OperationProgress[]> {
  const state = await runbookState(client, runbook);
  const out: OperationProgress[] = [];
  for (const op of state.inFlight) {
    if (op.kind === 'replication' || op.kind === 'reprotect') continue;
    out.push(await operationProgress(client, op.id));
  }
  return out;
}

/** The gates waiting in the runbook's operations in flight. */
export async function waitingGates(client: Client, runbook: string): Promise<GateView[]> {
  return (await inFlightProgress(client, runbook)).flatMap((p) => p.gates);
}

/** The groups paused in the runbook's operations in flight. */
export async function waitingPauses(client: Client, runbook: string): Promise<PauseView[]> {
  return (await inFlightProgress(client, runbook)).flatMap((p) => p.pauses);
}

/** Signs `{workflowId, stepId, decision, reason, time}` and sends it to the gate's workflow. */
export async function decideGate(
  client: Client,
  req: {
    runbook: string;
    stepId: string;
    decision: GateDecision;
    reason: string;
    key: OperatorKey;
    now?: Date;
  },
): Promise<ApprovalRecord> {
  const gate = (await waitingGates(client, req.runbook)).find((g) => g.stepId === req.stepId);
  if (!gate) {
    throw new RequestRefusedError(
      'NO_SUCH_GATE',
      `no gate ${req.stepId} is waiting in runbook ${req.runbook}`,
      'see lifeboat status',
      {},
    );
  }
  const signed = signDecision(req.key, {
    workflowId: gate.workflowId,
    stepId: req.stepId,
    decision: req.decision,
    reason: req.reason,
    time: (req.now ?? new Date()).toISOString(),
  });
  return refusalsAsErrors(() =>
    client.workflow.getHandle(gate.workflowId).executeUpdate(approvalUpdate, { args: [signed] }),
  );
}

/**
 * Signs `{workflowId, stepId: pause:<group>/<n>, decision, reason, time}` and sends it to the
 * workflow holding the group's pause: retry runs the group again, skip leaves it failed and goes
 * on, rollback undoes the operation.
 */
export async function decidePause(
  client: Client,
  req: {
    runbook: string;
    group: string;
    decision: PauseChoice;
    reason: string;
    key: OperatorKey;
    now?: Date;
  },
): Promise<ApprovalRecord> {
  const pause = (await waitingPauses(client, req.runbook)).find((p) => p.group === req.group);
  if (!pause) {
    throw new RequestRefusedError(
      'NOT_PAUSED',
      `group ${req.group} is not paused in runbook ${req.runbook}`,
      'see lifeboat status',
      {},
    );
  }
  const signed = signDecision(req.key, {
    workflowId: pause.workflowId,
    stepId: pause.stepId,
    decision: req.decision,
    reason: req.reason,
    time: (req.now ?? new Date()).toISOString(),
  });
  return refusalsAsErrors(() =>
    client.workflow.getHandle(pause.workflowId).executeUpdate(signedPauseDecisionUpdate, { args: [signed] }),
  );
}

/**
 * Signs `{workflowId: runbook/<name>, stepId: people:<pinned>-><plan's>, decision: change-people}`
 * and asks the controller to pin the people of `plan` instead of the pinned ones.
 */
export async function changePeople(
  client: Client,
  req: { plan: Plan; reason: string; key: OperatorKey; now?: Date },
): Promise<PeopleChange> {
  const runbook = req.plan.runbook.name;
  const state = await runbookState(client, runbook).catch(() => undefined);
  if (!state?.people) {
    throw new RequestRefusedError(
      'NOT_PINNED',
      `nothing is pinned for runbook ${runbook} yet`,
      "its first operation pins the Plan's people",
      {},
    );
  }
  const workflowId = controllerWorkflowId(runbook);
  const signed = signDecision(req.key, {
    workflowId,
    stepId: peopleChangeStepId(state.people.fingerprint, peopleFingerprint(peopleOf(req.plan))),
    decision: 'change-people',
    reason: req.reason,
    time: (req.now ?? new Date()).toISOString(),
  });
  return refusalsAsErrors(() =>
    client.workflow
      .getHandle(workflowId)
      .executeUpdate(changePeopleUpdate, { args: [{ plan: req.plan, signed }] }),
  );
}

/**
 * Commits or rolls back a failover waiting for its commit. Signed with `key` (the operation
 * refuses an unsigned decision when its runbook names operators); unsigned only for a runbook
 * that names none.
 */
export function commitFailover(
  client: Client,
  req: {
    operationId: string;
    decision: 'commit' | 'rollback';
    reason: string;
    key?: OperatorKey;
    by?: string;
    now?: Date;
  },
): Promise<{ decision: string; operator?: string; role?: string }> {
  const handle = client.workflow.getHandle(req.operationId);
  if (!req.key) {
    return refusalsAsErrors(() =>
      handle.executeUpdate(commitUpdate, {
        args: [{ decision: req.decision, reason: req.reason, by: req.by }],
      }),
    );
  }
  const signed = signAnyDecision(req.key, {
    workflowId: req.operationId,
    stepId: COMMIT_STEP,
    decision: req.decision === 'commit' ? 'commit' : 'rollback-failover',
    reason: req.reason,
    time: (req.now ?? new Date()).toISOString(),
  });
  return refusalsAsErrors(async () => {
    const record = await handle.executeUpdate(signedCommitUpdate, { args: [signed] });
    return { decision: req.decision, operator: record.operator, role: record.role };
  });
}

/**
 * Cancels an operation in flight. Signed with `key` (the controller refuses an unsigned cancel of
 * a drill, failover, failback or reprotect when its runbook names operators); `by` names who asked
 * when there is no key.
 */
export function cancelOperation(
  client: Client,
  req: { runbook: string; operationId: string; reason: string; key?: OperatorKey; by?: string; now?: Date },
): Promise<{ id: string; ended?: ReconciledOperation; decision?: ApprovalRecord }> {
  const workflowId = controllerWorkflowId(req.runbook);
  const signed = req.key
    ? signAnyDecision(req.key, {
        workflowId,
        stepId: cancelStepId(req.operationId),
        decision: 'cancel',
        reason: req.reason,
        time: (req.now ?? new Date()).toISOString(),
      })
    : undefined;
  return refusalsAsErrors(() =>
    client.workflow.getHandle(workflowId).executeUpdate(cancelOperationUpdate, {
      args: [
        {
          id: req.operationId,
          reason: req.reason,
          ...(signed ? { signed } : {}),
          ...(req.by ? { by: req.by } : {}),
        },
      ],
    }),
  );
}

/**
 * Settles a dispute between the sites' DR-state records by accepting `site`'s: signed with `key`
 * over the version that site held when the dispute was found (the controller refuses an unsigned
 * acceptance when that record names operators).
 */
export async function acceptDrState(
  client: Client,
  req: { runbook: string; site: string; reason: string; key?: OperatorKey; by?: string; now?: Date },
): Promise<DrStateAcceptance> {
  const workflowId = controllerWorkflowId(req.runbook);
  const state = await runbookState(client, req.runbook);
  const dispute = state.durable?.dispute;
  if (!dispute) {
    throw new RequestRefusedError(
      'NOT_DISPUTED',
      `the DR state of ${req.runbook} is not in dispute`,
      'see lifeboat status',
      {},
    );
  }
  const signed = req.key
    ? signAnyDecision(req.key, {
        workflowId,
        stepId: acceptDrStateStepId(req.site, dispute.versions[req.site] ?? 0),
        decision: 'accept-dr-state',
        reason: req.reason,
        time: (req.now ?? new Date()).toISOString(),
      })
    : undefined;
  return refusalsAsErrors(() =>
    client.workflow.getHandle(workflowId).executeUpdate(acceptDrStateUpdate, {
      args: [
        {
          site: req.site,
          reason: req.reason,
          ...(signed ? { signed } : {}),
          ...(req.by ? { by: req.by } : {}),
        },
      ],
    }),
  );
}
