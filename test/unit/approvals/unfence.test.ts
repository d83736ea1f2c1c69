/** Who may lift a fence, and the signed unfence's checks (approvals/verify.ts, deciders.ts). */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { approverRoles } from '../../../approvals/deciders.ts';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { signAnyDecision, signDecision } from '../../../approvals/keys.ts';
import { checkUnfenceDecision, type UnfenceContext } from '../../../approvals/verify.ts';
import type { PlanGroup } from '../../../runbooks/plan.ts';

const alice = ed25519.keygen();
const bob = ed25519.keygen();
const now = Date.parse('2026-12-04T08:00:00Z');
const ctx: UnfenceContext = {
  workflowId: 'runbook/payments/unfence/1',
  stepId: 'unfence',
  now,
  operators: {
    alice: { key: `ed25519:${bytesToBase64(alice.publicKey)}` },
    bob: { key: `ed25519:${bytesToBase64(bob.publicKey)}` },
  },
  roles: { 'incident-commander': ['alice'], observer: ['bob'] },
  seenSignatures: new Set(),
  deciderRoles: ['incident-commander'],
  requestedAt: now,
};
const payload = {
  workflowId: ctx.workflowId,
  stepId: 'unfence',
  decision: 'unfence',
  reason: 'primary rebuilt',
  time: new Date(now).toISOString(),
};
const sign = (who: 'alice' | 'bob', p = payload) =>
  signAnyDecision({ name: who, secretKey: (who === 'alice' ? alice : bob).secretKey }, p);

describe('signed unfence', () => {
  it('accepted from an operator holding a decider role', () => {
    expect(checkUnfenceDecision(sign('alice'), ctx)).toBeUndefined();
  });

  it('refused: wrong role, no reason, other workflow, forged, a gate decision replayed as unfence', () => {
    expect(checkUnfenceDecision(sign('bob'), ctx)?.code).toBe('WRONG_ROLE');
    expect(checkUnfenceDecision(sign('alice', { ...payload, reason: ' ' }), ctx)?.code).toBe('NO_REASON');
    expect(
      checkUnfenceDecision(sign('alice', { ...payload, workflowId: 'runbook/x/unfence/1' }), ctx)?.code,
    ).toBe('WRONG_WORKFLOW');
    const forged = { ...sign('alice'), operator: 'alice', signature: sign('bob').signature };
    expect(checkUnfenceDecision(forged, ctx)?.code).toBe('BAD_SIGNATURE');
    const gate = signDecision(
      { name: 'alice', secretKey: alice.secretKey },
      { ...payload, stepId: 'unfence', decision: 'approve' },
    );
    expect(checkUnfenceDecision(gate, ctx)?.code).toBe('BAD_DECISION');
    expect(checkUnfenceDecision({ ...sign('alice'), operator: 'mallory' }, ctx)?.code).toBe(
      'UNKNOWN_OPERATOR',
    );
  });
});

describe('unfence deciders', () => {
  const group = (roles: string[]): PlanGroup =>
    ({
      before: roles.map((role, i) => ({ kind: 'approval', role, id: `g/before/${i}` })),
      after: [],
    }) as unknown as PlanGroup;
  it('the roles that approve the runbook gates; any role when it has none', () => {
    const roles = { 'incident-commander': ['alice'], dba: ['carol'], observer: ['bob'] };
    expect(approverRoles({ groups: [group(['incident-commander']), group(['dba'])], roles })).toEqual([
      'incident-commander',
      'dba',
    ]);
    expect(approverRoles({ groups: [group([])], roles })).toEqual(['incident-commander', 'dba', 'observer']);
  });
});
