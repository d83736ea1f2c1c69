/**
 * Data shapes shared by the controller, the interpreter, the group workflow and the CLI.
 * Everything here is plain JSON: it crosses Temporal payloads and continue-as-new.
 */
import type { IsolationProbeResult } from '../activities/restore.ts';
import type { GateDecision, OperatorChoice, PauseChoice } from '../approvals/payload.ts';
import type { People } from '../approvals/people.ts';
import type { DrStateRecord } from '../drstate/record.ts';
import type { CapturedCommand } from '../replication/manifest.ts';
import type { ExpectedRecord } from '../restore/data-check.ts';
import type { OperationKind, Plan, PlanGroup, PlanSite, SiteRole } from '../runbooks/plan.ts';

/** What the controller admits: the Plan's operations plus replication cycles and reprotect. */
export type ControllerOpKind = OperationKind | 'replication' | 'reprotect';

export type RunbookPhase =
  | 'normal'
  | 'failed-over-uncommitted'
  | 'failed-over-committed'
  | 'reprotecting'
  | 'failed-back';

export interface OperationRef {
  id: string;
  kind: ControllerOpKind;
  startedAt: string;
  planHash?: string;
  /** A planned failover's final replication cycle: the failover it reports to. */
  forOperation?: string;
  /** Who asked to cancel it, and why (signed when the runbook names operators). */
  cancelledBy?: ApprovalRecord;
}

/** `partial`: every wave ran, but some group failed under `onFailure: continue`. */
export type OperationOutcome = 'succeeded' | 'partial' | 'failed' | 'rolled-back' | 'cancelled';

export interface OperationSummary extends OperationRef {
  outcome: OperationOutcome;
  endedAt: string;
  error?: string;
  decisions?: ApprovalRecord[];
  /** Drills: the verdict against the objectives and where the evidence record is. */
  verdict?: 'pass' | 'fail';
  evidencePath?: string;
  report?: ReportRef;
  /** The operation closed without telling the controller; it found out by describing it. */
  reconciled?: { status: OperationStatus['status']; reason: string };
}

/** What Temporal says of an operation workflow (platform/operation-status.ts). */
export interface OperationStatus {
  id: string;
  status:
    | 'RUNNING'
    | 'COMPLETED'
    | 'FAILED'
    | 'CANCELLED'
    | 'TERMINATED'
    | 'TIMED_OUT'
    | 'NOT_FOUND'
    | 'UNKNOWN';
  closedAt?: string;
  /** A completed operation's own outcome (from its result). */
  outcome?: OperationOutcome;
  error?: string;
  /** A completed operation's result, as its finished signal would have carried it. */
  finished?: {
    decisions?: ApprovalRecord[];
    verdict?: 'pass' | 'fail';
    evidencePath?: string;
    report?: ReportRef;
  };
}

/** An in-flight slot the controller freed because its operation had closed without signalling. */
export interface ReconciledOperation {
  id: string;
  kind: ControllerOpKind;
  status: OperationStatus['status'];
  reason: string;
}

/** A published report: its id, the sha256 of its signed file, and its page. */
export interface ReportRef {
  id: string;
  sha256: string;
  htmlPath: string;
}

export interface RunbookState {
  runbook: string;
  /** `on` once a replication cycle committed a point for every VM of the runbook. */
  protection: 'off' | 'on';
  /** When the newest cycle that committed every VM ended (what the RPO is measured from). */
  protectedAt?: string;
  /** Where the runbook's VMs run in production right now. */
  activeSite: SiteRole;
  phase: RunbookPhase;
  /** The site that must not run the runbook's VMs (set by a failover, cleared by failback). */
  fence?: {
    site: SiteRole;
    reason: string;
    since: string;
    by?: string;
    /** When the fenced site's own worker stopped the VMs and wrote its fence record. */
    enforced?: { at: string; site: string; vms: Array<{ vm: string; detail: string }> };
  };
  /** The last fence an operator lifted (`lifeboat unfence`): who, why, when. */
  unfenced?: { id: string; site: string; by: string; reason: string; at: string };
  inFlight: OperationRef[];
  /** Recovery points held by operations (operation id -> point ids); retention keeps them. Filled
   *  by the operations that restore from points (drills, failovers). */
  heldPoints: Record<string, string[]>;
  planHash?: string;
  /** Per kind, how many operations were started (ids are `runbook/<name>/<kind>/<n>`). */
  counters: Partial<Record<ControllerOpKind, number>>;
  /** The most recent finished operations, newest last (bounded). */
  recent: OperationSummary[];
  /** The newest signed report of this runbook (what `lifeboat report verify` compares with). */
  reportHead?: { id: string; sha256: string };
  /** Who may decide, pinned at the first operation (absent before it). */
  people?: PinnedPeople;
  /**
   * Set by a reprotect: protection runs from the active site toward `to` (the old primary),
   * whose disks the reprotect `by` made equal to the active site's. Absent: the Plan's direction.
   */
  protectionDirection?: { from: SiteRole; to: SiteRole; since: string; by: string };
  /** The DR state as the sites keep it (drstate/): absent in controllers started before it. */
  durable?: DurableBook;
}

/** The controller's book of the DR-state record it keeps at each site. */
export interface DurableBook {
  /** The version of the newest record (0: none written yet). */
  version: number;
  /** drStateDigest of that version's state: a new version is written when the state's differs. */
  digest: string;
  /** The newest record, kept whole so a site that missed it is offered the very same one. */
  record?: DrStateRecord;
  /** A controller started without a state reads the sites' records before it admits anything. */
  pendingRestore?: true;
  /** The site names written to (the Plan's), once known. */
  sites: string[];
  /** Per site: the newest version it acknowledged, or why the last write failed. */
  acked: Record<string, { version: number; at: string; error?: string }>;
  /** Set when this controller started without a state and read the sites' records. */
  restored?: { at: string; from?: string; version?: number; notes: string[] };
  /** The sites' records disagree (or a site holds a newer one): operations are refused. */
  dispute?: {
    at: string;
    found: string[];
    /** The newest version each site held when the dispute was found (what an acceptance signs). */
    versions: Record<string, number>;
  };
  /** How the last dispute ended: the operator who picked a site's record, and why. */
  accepted?: DrStateAcceptance;
}

export interface DrStateAcceptance {
  site: string;
  /** The version accepted (0: the site held none, the runbook starts over from a blank state). */
  version: number;
  /** The disputes it settled. */
  settled: string[];
  decision: ApprovalRecord;
}

/**
 * The operators, keys, roles and administering roles pinned by the controller at the runbook's
 * first operation: a Plan that differs is refused unless an administrator signed the change.
 */
export interface PinnedPeople extends People {
  /** `sha256:<hex>` of the set (approvals/people.ts). */
  fingerprint: string;
  pinnedAt: string;
  /** The Plan the set was pinned from. */
  planHash: string;
  /** The signed changes, newest last (bounded). */
  changes: PeopleChange[];
}

/** A signed change of the pinned people, as recorded. */
export interface PeopleChange extends ApprovalRecord {
  from: string;
  to: string;
  diff: string[];
}

export interface ControllerInput {
  runbook: string;
  state?: RunbookState;
  /** The runbook's site names, when the starter knows them: a fresh controller reads their DR state at once. */
  sites?: string[];
  /** Continue-as-new after this many history events (tests); otherwise when the server suggests. */
  continueAsNewAfterEvents?: number;
}

export interface OperationOptions {
  /** Concurrent VM boots per site (a workflow-side semaphore). */
  bootConcurrency?: number;
  /** Run each group as its own child workflow: 'auto' does so for large plans. */
  childGroups?: 'auto' | 'always' | 'never';
  /** Drills and disaster failovers: which recovery points to restore: latest, a point id or a time. */
  point?: string;
  /** Failovers: `planned` (shut the primary down, final cycle, no loss) or `disaster`. */
  mode?: 'planned' | 'disaster';
  /** Planned failovers: how long a primary VM may take to shut down before it is forced off. */
  shutdownDeadlineMs?: number;
  /** Rollbacks longer than this run in chunks as child workflows (default 300). */
  compensationChunk?: number;
  /** Replication cycles: VMs moving data at the same time (default 2). */
  maxConcurrentTransfers?: number;
}

export interface StartOperationRequest {
  /** `replication` starts one replication cycle (workflows/replication.ts), `reprotect` a reprotect (workflows/reprotect.ts). */
  kind: OperationKind | 'replication' | 'reprotect';
  plan: Plan;
  options?: OperationOptions;
  requestedBy?: string;
}

export interface StartOperationResult {
  id: string;
  kind: OperationKind | 'replication' | 'reprotect';
}

export interface OperationInput {
  id: string;
  kind: OperationKind;
  plan: Plan;
  controllerId: string;
  options?: OperationOptions;
  /** Who asked for it (recorded in the evidence). */
  requestedBy?: string;
}

export type VmActionName = 'prepareVm' | 'startVm' | 'stopVm' | 'teardownVm';

/** One VM action to run on one site; `undo` is what rollback runs once this action completed. */
export interface VmAction {
  action: VmActionName;
  site: SiteRole;
  vm: string;
  /** Network role to attach (bubble for drills, production otherwise). */
  network?: string;
  /** Counts against the site's boot limit. */
  boot?: boolean;
  /** Failure is recorded but does not fail the group (fencing a site that may be gone). */
  bestEffort?: boolean;
  /** Build the VM from the operation's recovery point (drills). */
  fromPoint?: boolean;
  /** Push the undo even when this attempt changed nothing (a retry after a lost completion). */
  alwaysUndo?: boolean;
  undo?: Omit<VmAction, 'undo'>;
}

/** What a VM action built from a point needs to find it again (and to remove it). */
export interface RestoreRef {
  purpose: OperationKind;
  runbook: string;
  pointId: string;
}

/** An undo entry on the compensation stack, resolved to a concrete site name. */
export interface Compensation {
  key: string;
  group: string;
  siteName: string;
  action: VmActionName;
  vm: string;
  network?: string;
  restore?: RestoreRef;
}

/**
 * A signed decision as recorded: a gate's (approve|reject), a pause's (`pause:<group>/<n>`) or
 * another operator decision's (commit, cancel, people change: approvals/payload.ts OperatorChoice).
 */
export interface ApprovalRecord {
  stepId: string;
  group: string;
  decision: GateDecision | PauseChoice | OperatorChoice;
  operator: string;
  role: string;
  reason: string;
  signedAt: string;
  recordedAt: string;
  signature: string;
}

export type GroupState =
  | 'pending'
  | 'running'
  | 'waiting-approval'
  | 'paused'
  | 'succeeded'
  | 'failed'
  | 'continued'
  | 'rolled-back';

export interface VmProgress {
  action?: VmActionName;
  state: 'pending' | 'running' | 'done' | 'failed';
  startedAt?: number;
  endedAt?: number;
}

export interface GroupProgress {
  name: string;
  wave: number;
  state: GroupState;
  step?: string;
  startedAt?: number;
  endedAt?: number;
  /** The child workflow running this group, when groups run as children. */
  workflowId?: string;
  vms: Record<string, VmProgress>;
  error?: string;
}

export interface GateView {
  workflowId: string;
  stepId: string;
  group: string;
  role: string;
  prompt: string;
  approvers: string[];
  openedAt: number;
  expiresAt: number;
}

export interface PauseView {
  workflowId: string;
  group: string;
  error: string;
  since: number;
  /** What a decision signs as its step id: `pause:<group>/<n>`, the group's n-th pause. */
  stepId: string;
  /** Holding any one of these roles lets an operator decide (see workflows/gates.ts). */
  roles: string[];
  /** The operators holding one of those roles. */
  deciders: string[];
}

export type OperationState =
  | 'running'
  | 'waiting-approval'
  | 'paused'
  | 'waiting-commit'
  | 'rolling-back'
  | 'succeeded'
  | 'failed'
  | 'rolled-back'
  | 'cancelled';

export interface OperationProgress {
  id: string;
  kind: OperationKind;
  runbook: string;
  planHash: string;
  state: OperationState;
  wave: number;
  waves: number;
  startedAt: number;
  endedAt?: number;
  groups: Record<string, GroupProgress>;
  gates: GateView[];
  pauses: PauseView[];
  decisions: ApprovalRecord[];
  compensations: { pending: number; done: number };
  error?: string;
  /** A partial failover waiting for an operator: which groups run where, and the commands. */
  placement?: string;
}

export interface OperationResult {
  id: string;
  kind: OperationKind;
  outcome: OperationOutcome;
  groups: Record<string, GroupState>;
  decisions: ApprovalRecord[];
  error?: string;
  /** Drills: the verdict against the objectives, and where the evidence record was written. */
  verdict?: 'pass' | 'fail';
  verdictReasons?: string[];
  evidencePath?: string;
  /** The signed report made from the evidence (reports/), the chain's new head. */
  report?: ReportRef;
  rto?: { targetMs: number; measuredMs?: number; pass?: boolean };
  rpo?: { targetMs: number; measuredMs?: number; pass?: boolean };
}

/** A check's result as evidence (the group runner records every one, passed or failed). */
export interface CheckRecord {
  id: string;
  group: string;
  vm: string;
  kind: 'agent' | 'tcp' | 'http' | 'serial' | 'data';
  outcome: 'passed' | 'failed' | 'skipped';
  output: string;
  attempts: number;
  startedAt: number;
  endedAt: number;
}

/** The drill's restore, as the group runner needs it: which point, and each VM's copy. */
export interface GroupRestore {
  pointId: string;
  /**
   * vm -> the copy's domain name at the target site, the records its point holds and the
   * outputs of the `data` commands at the snapshot (absent in points taken without any).
   */
  vms: Record<string, { domain: string; records: ExpectedRecord[]; commands?: CapturedCommand[] }>;
  /** When the operation started: a record written before this was restored, not new. */
  startedAtMs: number;
}

/** The slice of a Plan one group needs, so a group child's input stays small. */
export interface GroupInput {
  restore?: GroupRestore;
  operationId: string;
  parentId: string;
  kind: OperationKind;
  group: PlanGroup;
  sites: Record<SiteRole, PlanSite>;
  drillNetwork?: string;
  operators: Plan['operators'];
  roles: Plan['roles'];
  bootConcurrency: number;
}

/** How a group ended: `rollback` asks the operation to roll back; `aborted` stopped early. */
export type GroupOutcome = 'succeeded' | 'continued' | 'rollback' | 'aborted';

export interface GroupResult {
  checks?: CheckRecord[];
  probes?: IsolationProbeResult[];
  group: string;
  outcome: GroupOutcome;
  compensations: Compensation[];
  decisions: ApprovalRecord[];
  error?: string;
}

export type PauseDecision = 'resume' | 'rollback' | 'continue';

/** The unsigned request of `lifeboat.pauseDecision`, refused since pause decisions are signed. */
export interface PauseDecisionRequest {
  group: string;
  decision: PauseDecision;
  reason: string;
  by?: string;
}

export interface CommitRequest {
  decision: 'commit' | 'rollback';
  reason: string;
  by?: string;
}
