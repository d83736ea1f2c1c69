import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { signDecision } from '../../../approvals/keys.ts';
import type { SignedDecision } from '../../../approvals/payload.ts';
import { decidePause, operationProgress, RequestRefusedError } from '../../../cli/runbook-client.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import { approvalUpdate } from '../../../workflows/messages.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_SECRET, diamondPlan, rehash, withApprovalWithin, withOnFailure } from '../../support/plans.ts';
import { aliceApproves, eventually, failureOf, type Harness, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };
const BOB_SECRET = ed25519.utils.randomSecretKey();
const bob = { name: 'bob', secretKey: BOB_SECRET, publicKey: '' };

/** The diamond plus bob, who holds only the `observer` role. */
function withBob(plan: Plan): Plan {
  return rehash({
    ...plan,
    operators: {
      ...plan.operators,
      bob: { key: `ed25519:${bytesToBase64(ed25519.getPublicKey(BOB_SECRET))}` },
    },
    roles: { ...plan.roles, observer: ['bob'] },
  });
}

async function gateOf(h: Harness, opId: string) {
  return eventually(async () =>
    (await operationProgress(h.client, opId)).gates.find((g) => g.stepId === 'b/before/0'),
  );
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestRefusedError);
  return (err as RequestRefusedError).code;
}

function send(h: Harness, workflowId: string, d: SignedDecision) {
  return decideGateRaw(h, workflowId, d);
}

async function decideGateRaw(h: Harness, workflowId: string, d: SignedDecision) {
  // The same error mapping as the CLI, with a decision we built (and maybe tampered with) ourselves.
  try {
    return await h.client.workflow.getHandle(workflowId).executeUpdate(approvalUpdate, { args: [d] });
  } catch (err) {
    const cause = (err as { cause?: { type?: string; message?: string } }).cause;
    throw new RequestRefusedError(cause?.type ?? 'UNKNOWN', cause?.message ?? String(err), undefined, {});
  }
}

describe('signed approvals', () => {
  it('refuses wrong-role, forged, reason-less, stale and foreign decisions, leaving no history; accepts alice', async () => {
    const hooks = makeHooksDir();
    await withHarness(withBob(diamondPlan()), { hooksDir: hooks.dir }, async (h) => {
      const op = await h.start('drill');
      const gate = await gateOf(h, op.id);
      const fresh = (over: Partial<SignedDecision['payload']> = {}) => ({
        workflowId: gate.workflowId,
        stepId: 'b/before/0',
        decision: 'approve' as const,
        reason: 'checked',
        time: new Date().toISOString(),
        ...over,
      });
      // bob signs correctly but does not hold incident-commander.
      expect(await refusal(send(h, gate.workflowId, signDecision(bob, fresh())))).toBe('WRONG_ROLE');
      // bob claims to be alice: the signature does not verify against alice's key.
      expect(
        await refusal(send(h, gate.workflowId, { ...signDecision(bob, fresh()), operator: 'alice' })),
      ).toBe('BAD_SIGNATURE');
      // alice's signature, with the reason changed after signing.
      const tampered = signDecision(alice, fresh());
      tampered.payload = { ...tampered.payload, reason: 'something else' };
      expect(await refusal(send(h, gate.workflowId, tampered))).toBe('BAD_SIGNATURE');
      expect(await refusal(send(h, gate.workflowId, signDecision(alice, fresh({ reason: '  ' }))))).toBe(
        'NO_REASON',
      );
      expect(
        await refusal(
          send(h, gate.workflowId, signDecision(alice, fresh({ time: '2020-01-01T00:00:00.000Z' }))),
        ),
      ).toBe('STALE');
      expect(
        await refusal(
          send(h, gate.workflowId, signDecision(alice, fresh({ workflowId: 'runbook/x/drill/9' }))),
        ),
      ).toBe('WRONG_WORKFLOW');
      expect(
        await refusal(send(h, gate.workflowId, { ...signDecision(alice, fresh()), operator: 'mallory' })),
      ).toBe('UNKNOWN_OPERATOR');
      const good = signDecision(alice, fresh());
      const record = await send(h, gate.workflowId, good);
      expect(record).toMatchObject({ operator: 'alice', role: 'incident-commander', reason: 'checked' });
      // The same signed approval again: the gate is closed, so it has nothing to decide.
      expect(await refusal(send(h, gate.workflowId, good))).toBe('NO_SUCH_GATE');
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      expect(result.decisions).toHaveLength(1);
      // Refused Updates never reached history: exactly one Update was accepted there.
      const history = await h.client.workflow.getHandle(op.id).fetchHistory();
      const accepted = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      expect(accepted).toHaveLength(1);
      await saveHistory(h.client, op.id, 'operationWorkflow', 'drill-approvals-refused');
    });
  });

  it('a replayed signature is refused when the gate opens again after a rejection', async () => {
    const hooks = makeHooksDir();
    await withHarness(withOnFailure(diamondPlan(), 'b', 'pause'), { hooksDir: hooks.dir }, async (h) => {
      const op = await h.start('drill');
      const gate = await gateOf(h, op.id);
      const reject = signDecision(alice, {
        workflowId: gate.workflowId,
        stepId: 'b/before/0',
        decision: 'reject',
        reason: 'not yet',
        time: new Date().toISOString(),
      });
      await send(h, gate.workflowId, reject);
      const pause = await eventually(async () => (await operationProgress(h.client, op.id)).pauses[0]);
      expect(pause.error).toContain('rejected by alice');
      await decidePause(h.client, {
        runbook: h.plan.runbook.name,
        group: 'b',
        decision: 'retry',
        reason: 'ask again',
        key: alice,
      });
      await gateOf(h, op.id);
      expect(await refusal(send(h, gate.workflowId, reject))).toBe('REPLAYED');
      await aliceApproves(h, 'now');
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      expect(result.decisions.map((d) => d.decision)).toEqual(['reject', 'retry', 'approve']);
    });
  });

  it('a gate that nobody decides within its time fails the group', async () => {
    const hooks = makeHooksDir();
    const plan = withOnFailure(withApprovalWithin(diamondPlan(), 1_500), 'b', 'rollback');
    await withHarness(plan, { hooksDir: hooks.dir }, async (h) => {
      const op = await h.start('drill');
      const failure = await failureOf(h.client.workflow.getHandle(op.id).result());
      expect(failure?.type).toBe('OPERATION_ROLLED_BACK');
      const result = failure?.details?.[0] as OperationResult;
      expect(result.groups.b).toBe('failed');
      expect(result.error).toContain('expired');
      expect(h.secondary.calls.some((c) => c.method === 'startVm' && c.vm === 'b-1')).toBe(false);
    });
  });

  it('groups run as child workflows hold their own gates, and approvals reach them', async () => {
    const hooks = makeHooksDir();
    await withHarness(diamondPlan(), { hooksDir: hooks.dir }, async (h) => {
      const op = await h.start('drill', { childGroups: 'always', compensationChunk: 2 });
      const gate = await gateOf(h, op.id);
      expect(gate.workflowId).toBe(`${op.id}/group/b`);
      await aliceApproves(h, 'ok');
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      expect(result.decisions.map((d) => d.operator)).toEqual(['alice']);
      // Teardown (in chunks of 2, as compensation children) undoes the boots in reverse order.
      const boots = h.secondary.calls
        .filter((c) => c.method === 'startVm' && c.ok)
        .sort((x, y) => x.end - y.end);
      const stops = h.secondary.calls.filter((c) => c.method === 'shutdownVm' && c.ok);
      expect(stops.map((c) => c.vm)).toEqual(boots.map((c) => c.vm).reverse());
      await saveHistory(h.client, op.id, 'operationWorkflow', 'drill-child-groups');
      await saveHistory(h.client, `${op.id}/group/b`, 'groupWorkflow', 'gate-approved');
      await saveHistory(h.client, `${op.id}/compensate/4`, 'compensationWorkflow', 'drill-teardown-chunk');
    });
  });
});
