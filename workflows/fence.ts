/**
 * Fencing that the fenced site obeys, and its lifting.
 * - `fenceSiteWorkflow` (`<failover id>/fence`, a child of the disaster failover, abandoned when it
 *   ends): asks the fenced site's own worker to enforce the fence, with no limit on how long the
 *   activity may wait to be picked up, so a site that is dead or cut off enforces it as soon as
 *   its worker is back (`lab heal`/`rejoin`, a restart); then tells the controller.
 * - `unfenceWorkflow` (`runbook/<name>/unfence/<ms>`, started by `lifeboat unfence`): checks the
 *   operator's signed decision (role, reason, signature), lifts the fence at the site, and tells
 *   the controller. Workflow code.
 */
import {
  ApplicationFailure,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControllerActivities } from '../activities/controller.ts';
import type {
  EnforceFenceInput,
  EnforceFenceResult,
  LiftFenceResult,
  SiteActivities,
} from '../activities/index.ts';
import { approverRoles } from '../approvals/deciders.ts';
import type { AnySignedDecision } from '../approvals/payload.ts';
import { peopleDiff, peopleFingerprint, peopleOf } from '../approvals/people.ts';
import { checkUnfenceDecision } from '../approvals/verify.ts';
import type { Plan, SiteRole } from '../runbooks/plan.ts';
import { BAD_INPUT } from './guard.ts';
import { fenceEnforcedSignal, fenceLiftedSignal } from './messages.ts';
import { proxySiteActivities } from './site-proxy.ts';

export interface FenceSiteInput extends EnforceFenceInput {
  /** The fenced site's own name (its queue is `site-<name>`). */
  site: string;
  controllerId: string;
}

/** The fence workflow's id for a failover. */
export function fenceWorkflowId(operationId: string): string {
  return `${operationId}/fence`;
}

export async function fenceSiteWorkflow(input: FenceSiteInput): Promise<EnforceFenceResult> {
  const parent = workflowInfo().parent?.workflowId;
  if (!input || typeof input.site !== 'string' || !Array.isArray(input.vms) || parent !== input.operationId) {
    throw ApplicationFailure.nonRetryable(
      'fenceSiteWorkflow runs only as a child of its failover',
      BAD_INPUT,
    );
  }
  const site = proxySiteActivities<SiteActivities>(input.site, {
    // No schedule-to-start limit: the task waits in the site's queue until its worker is back.
    scheduleToStartTimeout: undefined,
    startToCloseTimeout: '5 minutes',
    // A task handed to a poll that died with its link (a cut-off site) counts as started at the
    // server: the missing heartbeats (the activity beats every 2 s) get it retried within this,
    // not after its start-to-close. Short, and retried at most 10 s apart: a site that rejoins
    // runs its fenced VMs only until its worker gets the task.
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '2s', maximumInterval: '10s', backoffCoefficient: 2 },
  });
  const { site: _site, controllerId, ...enforce } = input;
  const r = await site.enforceFence(enforce);
  await getExternalWorkflowHandle(controllerId)
    .signal(fenceEnforcedSignal, {
      operationId: input.operationId,
      site: r.site,
      enforcedAt: r.enforcedAt,
      vms: r.vms.map((v) => ({ vm: v.vm, detail: v.detail })),
    })
    .catch(() => undefined);
  return r;
}

export interface UnfenceInput {
  plan: Plan;
  /** The fenced site's role in the Plan (the controller's state says which). */
  site: SiteRole;
  decision: AnySignedDecision;
  controllerId: string;
}

export interface UnfenceResult extends LiftFenceResult {
  id: string;
  by: string;
  reason: string;
}

/** Unfence checks the Plan's people against the ones the controller pinned. */
export const UNFENCE_PINNED_PATCH = 'unfence-checks-pinned-people';

export async function unfenceWorkflow(input: UnfenceInput): Promise<UnfenceResult> {
  const info = workflowInfo();
  const plan = input?.plan;
  if (!plan?.sites?.[input.site] || !input.decision?.payload) {
    throw ApplicationFailure.nonRetryable('unfence needs {plan, site, decision}', BAD_INPUT);
  }
  // The signature binds this workflow's id; a replay runs the history under another id, so the
  // binding is checked when the decision is first taken, and the rest checked on the signed id.
  const boundTo = input.decision.payload.workflowId;
  if (!info.unsafe.isReplaying && boundTo !== info.workflowId) {
    throw ApplicationFailure.create({
      type: 'WRONG_WORKFLOW',
      message: `unfence refused: signed for ${boundTo}, not ${info.workflowId}`,
      nonRetryable: true,
      details: [{ hint: 'sign again' }],
    });
  }
  if (patched(UNFENCE_PINNED_PATCH)) {
    // The Plan comes from whoever asks: its people must be the ones the controller pinned, or
    // anyone could lift a fence by naming their own key as an approver.
    const { pinnedPeopleOf } = proxyActivities<ControllerActivities>({
      startToCloseTimeout: '30 seconds',
      retry: { maximumAttempts: 5 },
    });
    const pinned = await pinnedPeopleOf({ controllerId: input.controllerId });
    if (pinned && peopleFingerprint(peopleOf(plan)) !== pinned.fingerprint) {
      throw ApplicationFailure.create({
        type: 'PEOPLE_CHANGED',
        message: `unfence refused: the Plan's operators, roles or keys are not the ones pinned for runbook ${plan.runbook.name}: ${peopleDiff(pinned, peopleOf(plan)).join('; ')}`,
        nonRetryable: true,
        details: [
          {
            hint: 'unfence with the runbook file the controller pinned (lifeboat status shows its fingerprint)',
          },
        ],
      });
    }
  }
  const refusal = checkUnfenceDecision(input.decision, {
    workflowId: boundTo,
    stepId: 'unfence',
    now: Date.now(),
    operators: plan.operators,
    roles: plan.roles,
    seenSignatures: new Set(),
    deciderRoles: approverRoles(plan),
    requestedAt: info.startTime.getTime(),
  });
  if (refusal) {
    throw ApplicationFailure.create({
      type: refusal.code,
      message: `unfence refused: ${refusal.message}`,
      nonRetryable: true,
      details: [{ hint: refusal.hint }],
    });
  }
  const by = input.decision.operator;
  const reason = input.decision.payload.reason;
  const siteName = plan.sites[input.site].name;
  const site = proxySiteActivities<SiteActivities>(siteName, {
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const r = await site.liftFence({ runbook: plan.runbook.name, operationId: info.workflowId, by, reason });
  await getExternalWorkflowHandle(input.controllerId)
    .signal(fenceLiftedSignal, {
      id: info.workflowId,
      site: siteName,
      by,
      reason,
      at: r.at,
      lifted: r.lifted,
    })
    .catch(() => undefined);
  return { ...r, id: info.workflowId, by, reason };
}
