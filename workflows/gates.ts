/**
 * Gates (approval steps) and pauses (`onFailure: pause`) held by one workflow, with the Update
 * handlers that decide them. Both validators verify the operator's signature, role and freshness
 * synchronously, so a refused decision never reaches history.
 * Who may decide a pause: approvals/deciders.ts.
 */
import { ApplicationFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import { holdersOf, pauseDeciderRoles } from '../approvals/deciders.ts';
import {
  type AnySignedDecision,
  type OperatorChoice,
  type PauseChoice,
  pauseStepId,
  type SignedDecision,
} from '../approvals/payload.ts';
import { checkDecision, checkOperatorDecision, checkPauseDecision, roleOf } from '../approvals/verify.ts';
import type { Plan, PlanGroup, PlanStep } from '../runbooks/plan.ts';
import { approvalUpdate, pauseDecisionUpdate, signedPauseDecisionUpdate } from './messages.ts';
import type { ApprovalRecord, GateView, PauseDecision, PauseView } from './types.ts';

/** What each signed choice does to the paused group. */
const PAUSE_EFFECT: Record<PauseChoice, PauseDecision> = {
  retry: 'resume',
  skip: 'continue',
  rollback: 'rollback',
};

type ApprovalStep = Extract<PlanStep, { kind: 'approval' }>;

interface OpenGate {
  view: GateView;
  decision?: ApprovalRecord;
}

interface OpenPause {
  view: PauseView;
  decision?: PauseDecision;
}

export class GateBook {
  readonly gates = new Map<string, OpenGate>();
  readonly pauses = new Map<string, OpenPause>();
  readonly decisions: ApprovalRecord[] = [];
  private readonly seenSignatures = new Set<string>();
  private readonly pauseCounts = new Map<string, number>();
  /** Called whenever the set of open gates or pauses changes. */
  onChange: () => void = () => {};

  /** `groups`: the Plan's groups this workflow runs, for who may decide their pauses. */
  constructor(
    private readonly operators: Plan['operators'],
    private readonly roles: Plan['roles'],
    private readonly groups: readonly PlanGroup[] = [],
  ) {}

  openGate(step: ApprovalStep): OpenGate {
    const now = Date.now();
    const gate: OpenGate = {
      view: {
        workflowId: workflowInfo().workflowId,
        stepId: step.id,
        group: step.group,
        role: step.role,
        prompt: step.prompt,
        approvers: this.roles[step.role] ?? [],
        openedAt: now,
        expiresAt: now + step.withinMs,
      },
    };
    this.gates.set(step.id, gate);
    this.onChange();
    return gate;
  }

  closeGate(stepId: string): void {
    if (this.gates.delete(stepId)) this.onChange();
  }

  openPause(group: string, error: string): OpenPause {
    const occurrence = (this.pauseCounts.get(group) ?? 0) + 1;
    this.pauseCounts.set(group, occurrence);
    const roles = pauseDeciderRoles(
      this.groups.find((g) => g.name === group),
      this.roles,
    );
    const pause: OpenPause = {
      view: {
        workflowId: workflowInfo().workflowId,
        group,
        error,
        since: Date.now(),
        stepId: pauseStepId(group, occurrence),
        roles,
        deciders: holdersOf(roles, this.roles),
      },
    };
    this.pauses.set(group, pause);
    this.onChange();
    return pause;
  }

  closePause(group: string): void {
    if (this.pauses.delete(group)) this.onChange();
  }

  openGateViews(): GateView[] {
    return [...this.gates.values()].filter((g) => !g.decision).map((g) => g.view);
  }

  openPauseViews(): PauseView[] {
    return [...this.pauses.values()].filter((p) => !p.decision).map((p) => p.view);
  }

  /** Registers the approval and pause-decision Updates on the current workflow. */
  install(): void {
    setHandler(
      approvalUpdate,
      (d: SignedDecision): ApprovalRecord => {
        // The validator (signature, role, freshness) already ran and is skipped on replay. Only
        // state checks here, which replay identically: two racing Updates cannot both land.
        const g = this.gates.get(d.payload.stepId);
        if (!g || g.decision || this.seenSignatures.has(d.signature)) {
          throw ApplicationFailure.nonRetryable(
            `gate ${d.payload.stepId} is already decided`,
            'NO_SUCH_GATE',
          );
        }
        const record: ApprovalRecord = {
          stepId: g.view.stepId,
          group: g.view.group,
          decision: d.payload.decision,
          operator: d.operator,
          role: g.view.role,
          reason: d.payload.reason,
          signedAt: d.payload.time,
          recordedAt: new Date().toISOString(),
          signature: d.signature,
        };
        this.seenSignatures.add(d.signature);
        g.decision = record;
        this.decisions.push(record);
        // Handlers only record; the waiting step reacts (and reports the change) when it wakes.
        return record;
      },
      { validator: (d: SignedDecision) => this.refusal(d) },
    );
    setHandler(
      signedPauseDecisionUpdate,
      (d: SignedDecision): ApprovalRecord => {
        // As for gates: the validator ran (and is skipped on replay); state checks only here.
        const p = this.pauseByStep(d.payload.stepId);
        const choice = d.payload.decision as PauseChoice;
        if (!p || p.decision || this.seenSignatures.has(d.signature) || !(choice in PAUSE_EFFECT)) {
          throw ApplicationFailure.nonRetryable(`${d.payload.stepId} is already decided`, 'NOT_PAUSED');
        }
        const record: ApprovalRecord = {
          stepId: p.view.stepId,
          group: p.view.group,
          decision: choice,
          operator: d.operator,
          role: roleOf(d.operator, p.view.roles, this.roles) ?? '',
          reason: d.payload.reason,
          signedAt: d.payload.time,
          recordedAt: new Date().toISOString(),
          signature: d.signature,
        };
        this.seenSignatures.add(d.signature);
        p.decision = PAUSE_EFFECT[choice];
        this.decisions.push(record);
        return record;
      },
      { validator: (d: SignedDecision) => this.signedPauseRefusal(d) },
    );
    setHandler(
      pauseDecisionUpdate,
      (r) => {
        this.pauseRefusal(r.group, r.decision, r.reason);
        (this.pauses.get(r.group) as OpenPause).decision = r.decision;
        return { group: r.group, decision: r.decision };
      },
      {
        validator: (_r) => {
          throw ApplicationFailure.create({
            type: 'UNSIGNED',
            message: 'pause decisions must be signed',
            nonRetryable: true,
            details: [{ hint: 'lifeboat retry|skip|rollback <runbook> --group <group> --reason "..."' }],
          });
        },
      },
    );
  }

  private pauseByStep(stepId: unknown): OpenPause | undefined {
    return [...this.pauses.values()].find((p) => p.view.stepId === stepId);
  }

  private signedPauseRefusal(d: SignedDecision): void {
    assertWellFormed(d);
    const pause = this.pauseByStep(d.payload.stepId);
    if (!pause || pause.decision) {
      const open = this.openPauseViews().map((p) => p.stepId);
      notWaiting('NOT_PAUSED', `no pause ${String(d.payload.stepId)}`, open, 'no group is paused');
    }
    refuseIf(
      checkPauseDecision(d, {
        workflowId: workflowInfo().workflowId,
        stepId: pause.view.stepId,
        deciderRoles: pause.view.roles,
        since: pause.view.since,
        now: Date.now(),
        operators: this.operators,
        roles: this.roles,
        seenSignatures: this.seenSignatures,
      }),
    );
  }

  private refusal(d: SignedDecision): void {
    assertWellFormed(d);
    const gate = this.gates.get(d.payload.stepId);
    if (!gate || gate.decision) {
      const open = this.openGateViews().map((g) => g.stepId);
      notWaiting('NO_SUCH_GATE', `no gate ${String(d.payload.stepId)}`, open, 'no gate is waiting');
    }
    refuseIf(
      checkDecision(d, {
        workflowId: workflowInfo().workflowId,
        stepId: gate.view.stepId,
        role: gate.view.role,
        openedAt: gate.view.openedAt,
        now: Date.now(),
        operators: this.operators,
        roles: this.roles,
        seenSignatures: this.seenSignatures,
      }),
    );
  }

  /**
   * A signed operator decision outside gates and pauses (a failover's commit or rollback), checked
   * as they are (signature, role, freshness, each signature used once); throws the refusal. For
   * an Update validator: skipped on replay.
   */
  refuseOperatorDecision(
    d: AnySignedDecision,
    step: {
      stepId: string;
      decisions: readonly OperatorChoice[];
      eligible: readonly string[];
      since: number;
    },
    what: string,
  ): void {
    assertWellFormed(d as SignedDecision);
    refuseIf(
      checkOperatorDecision(d, {
        workflowId: workflowInfo().workflowId,
        stepId: step.stepId,
        now: Date.now(),
        operators: this.operators,
        roles: this.roles,
        seenSignatures: this.seenSignatures,
        decisions: step.decisions,
        eligible: step.eligible,
        since: step.since,
        what,
      }),
    );
  }

  /** Records a checked operator decision among the decisions (the evidence's approvals). */
  recordOperatorDecision(d: AnySignedDecision, group: string, eligible: readonly string[]): ApprovalRecord {
    const record: ApprovalRecord = {
      stepId: d.payload.stepId,
      group,
      decision: d.payload.decision as OperatorChoice,
      operator: d.operator,
      role: roleOf(d.operator, eligible, this.roles) ?? '',
      reason: d.payload.reason,
      signedAt: d.payload.time,
      recordedAt: new Date().toISOString(),
      signature: d.signature,
    };
    this.seenSignatures.add(d.signature);
    this.decisions.push(record);
    return record;
  }

  /** The unsigned request's checks, kept for histories that recorded one (see messages.ts). */
  private pauseRefusal(group: string, decision: string, reason: string): void {
    const pause = this.pauses.get(group);
    if (!pause || pause.decision) {
      throw ApplicationFailure.nonRetryable(`group ${group} is not paused`, 'NOT_PAUSED');
    }
    if (!['resume', 'rollback', 'continue'].includes(decision)) {
      throw ApplicationFailure.nonRetryable(`unknown decision ${decision}`, 'BAD_DECISION');
    }
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw ApplicationFailure.nonRetryable('a decision needs a reason', 'NO_REASON');
    }
  }
}

function assertWellFormed(d: SignedDecision): void {
  if (!d || typeof d !== 'object' || !d.payload || typeof d.payload !== 'object') {
    throw ApplicationFailure.nonRetryable('malformed decision', 'BAD_DECISION');
  }
}

/** Refuses a decision for something not waiting here, naming what is. */
function notWaiting(type: string, what: string, open: string[], none: string): never {
  throw ApplicationFailure.create({
    type,
    message: `${what} is waiting in ${workflowInfo().workflowId}`,
    nonRetryable: true,
    details: [{ hint: open.length ? `waiting: ${open.join(', ')}` : none }],
  });
}

function refuseIf(refusal: { code: string; message: string; hint: string } | undefined | null): void {
  if (!refusal) return;
  throw ApplicationFailure.create({
    type: refusal.code,
    message: refusal.message,
    nonRetryable: true,
    details: [{ hint: refusal.hint }],
  });
}
