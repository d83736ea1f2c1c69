import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { peopleFingerprint, peopleOf } from '../../../approvals/people.ts';
import { changePeople, operationProgress, runbookState } from '../../../cli/runbook-client.ts';
import { controllerWorkflowId } from '../../../platform/names.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_SECRET, diamondPlan, rehash, withoutSteps } from '../../support/plans.ts';
import { aliceApproves, eventually, refusal, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };
const BOB_SECRET = ed25519.utils.randomSecretKey();
const bob = { name: 'bob', secretKey: BOB_SECRET, publicKey: '' };
const CAROL_SECRET = ed25519.utils.randomSecretKey();
const carol = { name: 'carol', secretKey: CAROL_SECRET, publicKey: '' };
const keyOf = (secret: Uint8Array) => `ed25519:${bytesToBase64(ed25519.getPublicKey(secret))}`;

/** The diamond, with bob holding the one administering role. */
function withAdmin(plan: Plan): Plan {
  return rehash({
    ...plan,
    operators: { ...plan.operators, bob: { key: keyOf(BOB_SECRET) } },
    roles: { ...plan.roles, 'people-admin': ['bob'] },
    administrators: ['people-admin'],
  });
}

/** The requester's Plan: carol's key added to the role that approves the diamond's gate. */
function withCarol(plan: Plan): Plan {
  return rehash({
    ...plan,
    operators: { ...plan.operators, carol: { key: keyOf(CAROL_SECRET) } },
    roles: { ...plan.roles, 'incident-commander': [...(plan.roles['incident-commander'] ?? []), 'carol'] },
  });
}

describe('pinned operators, roles and keys', () => {
  it('a Plan that adds a key to a role is refused until an administrator signs the change', async () => {
    const hooks = makeHooksDir();
    await withHarness(withAdmin(diamondPlan()), { hooksDir: hooks.dir }, async (h) => {
      const runbook = h.plan.runbook.name;
      const first = await h.start('drill');
      const pinned = (await runbookState(h.client, runbook)).people;
      expect(pinned?.fingerprint).toBe(peopleFingerprint(peopleOf(h.plan)));
      expect(pinned).toMatchObject({ administrators: ['people-admin'], planHash: h.plan.hash, changes: [] });
      await eventually(async () => (await operationProgress(h.client, first.id)).gates[0]);
      await aliceApproves(h, 'ok');
      await h.client.workflow.getHandle(first.id).result();
      await eventually(async () =>
        (await runbookState(h.client, runbook)).inFlight.length === 0 ? true : undefined,
      );

      const theirs = withCarol(h.plan);
      const controller = h.client.workflow.getHandle(controllerWorkflowId(runbook));
      const updatesSeen = async () =>
        ((await controller.fetchHistory()).events ?? []).filter(
          (e) => e.workflowExecutionUpdateAcceptedEventAttributes,
        ).length;
      const before = await updatesSeen();
      const refused = await refusal(h.start('drill', {}, theirs));
      expect(refused.code).toBe('PEOPLE_CHANGED');
      expect(refused.message).toContain('operator carol added; role incident-commander gains carol');
      expect(refused.hint).toContain('people-admin (bob)');
      // Signed by the newcomer herself, or by a gate approver who administers nothing: refused.
      expect((await refusal(changePeople(h.client, { plan: theirs, reason: 'me', key: carol }))).code).toBe(
        'UNKNOWN_OPERATOR',
      );
      expect((await refusal(changePeople(h.client, { plan: theirs, reason: 'her', key: alice }))).code).toBe(
        'WRONG_ROLE',
      );
      // None of the refusals was accepted into the controller's history.
      expect(await updatesSeen()).toBe(before);
      expect((await runbookState(h.client, runbook)).people?.fingerprint).toBe(pinned?.fingerprint);

      const change = await changePeople(h.client, {
        plan: theirs,
        reason: 'carol joins the IC rota',
        key: bob,
      });
      expect(change).toMatchObject({
        decision: 'change-people',
        operator: 'bob',
        role: 'people-admin',
        from: pinned?.fingerprint,
        to: peopleFingerprint(peopleOf(theirs)),
        diff: ['operator carol added', 'role incident-commander gains carol'],
      });
      const repinned = (await runbookState(h.client, runbook)).people;
      expect(repinned?.fingerprint).toBe(change.to);
      expect(repinned?.changes.map((c) => c.signature)).toEqual([change.signature]);
      // The signed set now runs; the old one is itself a change (carol removed).
      const second = await h.start('drill', {}, theirs);
      expect(second.id).toBe(`runbook/${runbook}/drill/2`);
      await h.client.workflow.getHandle(second.id).terminate('end of test');
      await controller.executeUpdate('lifeboat.reconcile', { args: [{ reason: 'test' }] });
      const back = await refusal(h.start('drill'));
      expect([back.code, back.message]).toEqual([
        'PEOPLE_CHANGED',
        expect.stringContaining('operator carol removed'),
      ]);
      await controller.terminate('end of test');
      await saveHistory(h.client, controllerWorkflowId(runbook), 'runbookController', 'people-change');
    });
  });

  it('a runbook pinned with no operator gains its first ones, signed by a key the new set names', async () => {
    const nobody = rehash({
      ...withoutSteps(diamondPlan(), (st) => st.kind === 'approval'),
      operators: {},
      roles: {},
      administrators: [],
    });
    const hooks = makeHooksDir();
    await withHarness(nobody, { hooksDir: hooks.dir }, async (h) => {
      const runbook = h.plan.runbook.name;
      const first = await h.start('drill');
      await h.client.workflow.getHandle(first.id).result();
      expect(Object.keys((await runbookState(h.client, runbook)).people?.operators ?? {})).toEqual([]);
      const withCarolOnly = rehash({
        ...h.plan,
        operators: { carol: { key: keyOf(CAROL_SECRET) } },
        roles: { 'incident-commander': ['carol'] },
      });
      // Someone the new set does not name cannot sign it in.
      expect(
        (await refusal(changePeople(h.client, { plan: withCarolOnly, reason: 'x', key: bob }))).code,
      ).toBe('UNKNOWN_OPERATOR');
      const change = await changePeople(h.client, {
        plan: withCarolOnly,
        reason: 'carol is on call',
        key: carol,
      });
      expect(change).toMatchObject({
        operator: 'carol',
        role: 'incident-commander',
        diff: expect.any(Array),
      });
      const state = await runbookState(h.client, runbook);
      expect(Object.keys(state.people?.operators ?? {})).toEqual(['carol']);
      // From now on a change needs carol's (a pinned operator's) signature, not a newcomer's.
      const withBob = rehash({
        ...withCarolOnly,
        operators: { ...withCarolOnly.operators, bob: { key: keyOf(BOB_SECRET) } },
        roles: { 'incident-commander': ['bob', 'carol'] },
      });
      expect((await refusal(changePeople(h.client, { plan: withBob, reason: 'x', key: bob }))).code).toBe(
        'UNKNOWN_OPERATOR',
      );
    });
  });
});
