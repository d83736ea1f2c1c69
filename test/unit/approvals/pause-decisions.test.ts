import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { holdersOf, pauseDeciderRoles } from '../../../approvals/deciders.ts';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { signDecision } from '../../../approvals/keys.ts';
import { type DecisionPayload, pauseStepId, signingBytes } from '../../../approvals/payload.ts';
import {
  checkDecision,
  checkPauseDecision,
  type GateContext,
  type PauseContext,
} from '../../../approvals/verify.ts';
import type { PlanGroup, PlanStep } from '../../../runbooks/plan.ts';

const aliceSecret = ed25519.utils.randomSecretKey();
const bobSecret = ed25519.utils.randomSecretKey();
const carolSecret = ed25519.utils.randomSecretKey();
const pub = (s: Uint8Array) => `ed25519:${bytesToBase64(ed25519.getPublicKey(s))}`;
const alice = { name: 'alice', secretKey: aliceSecret };
const bob = { name: 'bob', secretKey: bobSecret };
const carol = { name: 'carol', secretKey: carolSecret };
const now = Date.parse('2026-01-01T12:00:00Z');
const workflowId = 'runbook/r/drill/1';

const pause: PauseContext = {
  workflowId,
  stepId: pauseStepId('db', 1),
  deciderRoles: ['dba', 'ic'],
  since: now - 60_000,
  now,
  operators: {
    alice: { key: pub(aliceSecret) },
    bob: { key: pub(bobSecret) },
    carol: { key: pub(carolSecret) },
  },
  roles: { ic: ['alice'], dba: ['carol'], viewer: ['bob'] },
  seenSignatures: new Set(),
};
const payload = (over: Partial<DecisionPayload> = {}): DecisionPayload => ({
  workflowId,
  stepId: pause.stepId,
  decision: 'retry',
  reason: 'the disk came back',
  time: new Date(now).toISOString(),
  ...over,
});

describe('pause step ids and signing bytes', () => {
  it('names the group and which of its pauses, apart from any gate step id', () => {
    expect(pauseStepId('db', 1)).toBe('pause:db/1');
    expect(pauseStepId('db', 2)).not.toBe(pauseStepId('db', 1));
    // A gate's id has two slashes; group names hold none, so no gate id equals a pause id.
    expect(pauseStepId('db', 1).split('/')).toHaveLength(2);
  });

  it('signs the same five fields as a gate decision, with the pause choice', () => {
    expect(new TextDecoder().decode(signingBytes(payload({ decision: 'skip' })))).toBe(
      `{"decision":"skip","reason":"the disk came back","stepId":"pause:db/1","time":"${new Date(now).toISOString()}","workflowId":"${workflowId}"}`,
    );
  });
});

describe('checkPauseDecision', () => {
  it.each(['retry', 'skip', 'rollback'] as const)('accepts %s signed by a decider', (decision) => {
    expect(checkPauseDecision(signDecision(alice, payload({ decision })), pause)).toBeUndefined();
    expect(checkPauseDecision(signDecision(carol, payload({ decision })), pause)).toBeUndefined();
  });

  it.each([
    ['WRONG_WORKFLOW', signDecision(alice, payload({ workflowId: 'runbook/r/drill/2' }))],
    ['NOT_PAUSED', signDecision(alice, payload({ stepId: pauseStepId('web', 1) }))],
    ['NOT_PAUSED', signDecision(alice, payload({ stepId: pauseStepId('db', 2) }))],
    ['BAD_DECISION', signDecision(alice, payload({ decision: 'approve' }))],
    ['NO_REASON', signDecision(alice, payload({ reason: '' }))],
    ['NO_REASON', signDecision(alice, payload({ reason: ' \t' }))],
    ['UNKNOWN_OPERATOR', { ...signDecision(alice, payload()), operator: 'mallory' }],
    ['WRONG_ROLE', signDecision(bob, payload())],
    ['BAD_SIGNATURE', { ...signDecision(bob, payload()), operator: 'alice' }],
    ['BAD_SIGNATURE', { ...signDecision(alice, payload()), signature: '' }],
    ['STALE', signDecision(alice, payload({ time: new Date(now - 3_600_000).toISOString() }))],
    ['STALE', signDecision(alice, payload({ time: new Date(now + 3_600_000).toISOString() }))],
  ])('refuses %s', (code, d) => {
    expect(checkPauseDecision(d, pause)?.code).toBe(code);
  });

  it('refuses an unsigned request shaped like the old one', () => {
    const unsigned = { payload: payload(), operator: 'alice', signature: undefined } as unknown as Parameters<
      typeof checkPauseDecision
    >[0];
    expect(checkPauseDecision(unsigned, pause)?.code).toBe('BAD_SIGNATURE');
  });

  it('refuses a decision changed after signing (retry turned into rollback)', () => {
    const d = signDecision(alice, payload());
    d.payload = { ...d.payload, decision: 'rollback' };
    expect(checkPauseDecision(d, pause)?.code).toBe('BAD_SIGNATURE');
  });

  it('refuses a signature already used', () => {
    const d = signDecision(alice, payload());
    expect(checkPauseDecision(d, { ...pause, seenSignatures: new Set([d.signature]) })?.code).toBe(
      'REPLAYED',
    );
  });

  it('a pause decision is no gate decision, and a gate decision no pause decision', () => {
    const gate: GateContext = {
      ...pause,
      stepId: 'db/before/0',
      role: 'ic',
      openedAt: pause.since,
    };
    // The same bytes sent to a gate: wrong step, and even with the gate's id the wrong kind.
    expect(checkDecision(signDecision(alice, payload()), gate)?.code).toBe('NO_SUCH_GATE');
    expect(checkDecision(signDecision(alice, payload({ stepId: gate.stepId })), gate)?.code).toBe(
      'BAD_SIGNATURE',
    );
    const approve = signDecision(alice, payload({ stepId: gate.stepId, decision: 'approve' }));
    expect(checkDecision(approve, gate)).toBeUndefined();
    expect(checkPauseDecision(approve, pause)?.code).toBe('NOT_PAUSED');
    expect(checkPauseDecision(approve, { ...pause, stepId: gate.stepId })?.code).toBe('BAD_DECISION');
  });
});

const approval = (role: string, id: string): PlanStep =>
  ({ kind: 'approval', id, role, withinMs: 60_000, prompt: 'ok?' }) as PlanStep;
const group = (before: PlanStep[], after: PlanStep[] = []): PlanGroup =>
  ({ name: 'db', before, after }) as unknown as PlanGroup;

describe('who may decide a pause', () => {
  const roles = { ic: ['alice'], dba: ['carol', 'alice'], viewer: ['bob'] };

  it("is the roles of the group's approval steps, before and after, each once", () => {
    const g = group(
      [approval('dba', 'db/before/0')],
      [approval('ic', 'db/after/0'), approval('dba', 'db/after/1')],
    );
    expect(pauseDeciderRoles(g, roles)).toEqual(['dba', 'ic']);
    expect(holdersOf(['dba', 'ic'], roles)).toEqual(['carol', 'alice']);
  });

  it('falls back to every role of the Plan when the group has no approval step', () => {
    expect(pauseDeciderRoles(group([]), roles)).toEqual(['ic', 'dba', 'viewer']);
    expect(pauseDeciderRoles(undefined, roles)).toEqual(['ic', 'dba', 'viewer']);
    expect(holdersOf(['ghost'], roles)).toEqual([]);
  });
});
