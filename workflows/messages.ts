/**
 * Signals, queries and updates, defined once and imported by the workflows and the CLI.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AnySignedDecision, SignedDecision } from '../approvals/payload.ts';
import type { Plan } from '../runbooks/plan.ts';
import type {
  ApprovalRecord,
  CommitRequest,
  DrStateAcceptance,
  GateView,
  GroupProgress,
  OperationOutcome,
  OperationProgress,
  PauseDecisionRequest,
  PauseView,
  PeopleChange,
  ReconciledOperation,
  ReportRef,
  RunbookState,
  StartOperationRequest,
  StartOperationResult,
} from './types.ts';

// The controller (`runbook/<name>`)
/** Admits an operation or refuses it (in the validator, so a refusal leaves no history). */
export const startOperationUpdate = defineUpdate<StartOperationResult, [StartOperationRequest]>(
  'lifeboat.startOperation',
);
/**
 * Cancels the operation in flight with this id (its compensations run). One that had already
 * closed is not cancelled: its slot is freed and `ended` says how it closed.
 */
/**
 * Cancels an operation in flight. Signed (decision `cancel`, step `cancel:<id>`, the controller's
 * workflow id) when the runbook's pinned people name operators; replication cycles need no signature.
 */
export const cancelOperationUpdate = defineUpdate<
  { id: string; ended?: ReconciledOperation; decision?: ApprovalRecord },
  [{ id: string; reason: string; signed?: AnySignedDecision; by?: string }]
>('lifeboat.cancelOperation');
/**
 * Describes the operations in flight and frees the slot of every one that closed without
 * telling the controller (terminated by hand, failed before it could signal); says which.
 */
export const reconcileUpdate = defineUpdate<ReconciledOperation[], [{ reason?: string }]>(
  'lifeboat.reconcile',
);
export const runbookStateQuery = defineQuery<RunbookState>('lifeboat.runbookState');
/**
 * Re-pins the runbook's people to those of `plan`, signed (decision `change-people`, step
 * `people:<pinned>-><new>`) by an operator holding an administering role of the pinned set.
 */
export const changePeopleUpdate = defineUpdate<PeopleChange, [{ plan: Plan; signed: SignedDecision }]>(
  'lifeboat.changePeople',
);
/**
 * Settles a dispute between the sites' DR-state records: the controller restores from the named
 * site's record (signed `accept-dr-state` by an administrator of the people that record pins,
 * when it pins operators), and writes it to both sites as a newer version.
 */
export const acceptDrStateUpdate = defineUpdate<
  DrStateAcceptance,
  [{ site: string; reason: string; signed?: AnySignedDecision; by?: string }]
>('lifeboat.acceptDrState');
/** Sent by an operation to its controller when it ends, whatever the outcome. */
export const operationFinishedSignal = defineSignal<[OperationFinished]>('lifeboat.operationFinished');

export interface OperationFinished {
  id: string;
  outcome: OperationOutcome;
  error?: string;
  decisions?: ApprovalRecord[];
  committed?: boolean;
  verdict?: 'pass' | 'fail';
  evidencePath?: string;
  report?: ReportRef;
}

/** An operation restores from these points: retention must keep them until it ends. */
export const pointsHeldSignal = defineSignal<[{ id: string; points: string[] }]>('lifeboat.pointsHeld');

// Operations (the interpreter) and group children
export const progressQuery = defineQuery<OperationProgress>('lifeboat.progress');
/** A signed approve/reject of a gate; the validator verifies signature, role and freshness. */
export const approvalUpdate = defineUpdate<ApprovalRecord, [SignedDecision]>('lifeboat.approval');
/**
 * Unsigned pause decisions: refused by the validator today; the handler stays so histories that
 * recorded one still replay (validators do not run on replay).
 */
export const pauseDecisionUpdate = defineUpdate<{ group: string; decision: string }, [PauseDecisionRequest]>(
  'lifeboat.pauseDecision',
);
/** A signed retry|skip|rollback of a group paused by `onFailure: pause` (stepId `pause:<g>/<n>`). */
export const signedPauseDecisionUpdate = defineUpdate<ApprovalRecord, [SignedDecision]>(
  'lifeboat.signedPauseDecision',
);
/**
 * Commit or roll back a failover waiting for its commit, unsigned: only for a runbook that names
 * no operators (nobody could sign); otherwise refused in favour of `signedCommitUpdate`.
 */
export const commitUpdate = defineUpdate<{ decision: string }, [CommitRequest]>('lifeboat.commit');
/** A signed commit|rollback-failover (stepId `commit`, bound to the operation's workflow id). */
export const signedCommitUpdate = defineUpdate<ApprovalRecord, [AnySignedDecision]>('lifeboat.signedCommit');
/**
 * The controller tells an operation who cancelled it (checked there: signed, role) just before it
 * asks Temporal to cancel it, so the operation's evidence lists the cancel among its decisions.
 */
export const cancelDecisionSignal = defineSignal<[ApprovalRecord]>('lifeboat.cancelDecision');
/** Group children tell their operation about gates and pauses so its progress lists them. */
export const attentionSignal =
  defineSignal<[{ group: string; gates: GateView[]; pauses: PauseView[]; step?: string }]>(
    'lifeboat.attention',
  );
/** The operation tells its group children to stop starting work (rollback or cancellation). */
export const abortSignal = defineSignal<[{ reason: string }]>('lifeboat.abort');
export const groupProgressQuery = defineQuery<GroupProgress>('lifeboat.groupProgress');
/** An operation reached a point the controller's state must show (a failover awaiting commit). */
export const operationMilestoneSignal = defineSignal<
  [{ id: string; milestone: 'failed-over-uncommitted' | 'fenced'; by?: string; reason?: string }]
>('lifeboat.operationMilestone');

/**
 * A planned failover asks its controller for the final replication cycle (its primary VMs are
 * shut down): the controller starts it as its own child, beside the failover it admitted.
 */
export const finalCycleSignal = defineSignal<[{ id: string; plan: Plan }]>('lifeboat.finalCycle');
/** The controller tells the failover how its final cycle ended. */
export const finalCycleDoneSignal =
  defineSignal<[{ cycleId: string; outcome: OperationOutcome; error?: string }]>('lifeboat.finalCycleDone');

/** A site's worker enforced the fence a disaster failover set (workflows/fence.ts). */
export const fenceEnforcedSignal =
  defineSignal<
    [{ operationId: string; site: string; enforcedAt: string; vms: Array<{ vm: string; detail: string }> }]
  >('lifeboat.fenceEnforced');
/** An operator lifted the runbook's fence at a site (`lifeboat unfence`, signed). */
export const fenceLiftedSignal =
  defineSignal<[{ id: string; site: string; by: string; reason: string; at: string; lifted: boolean }]>(
    'lifeboat.fenceLifted',
  );
