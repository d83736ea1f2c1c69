/**
 * A group paused by `onFailure: pause` is decided by signed operator commands: `lifeboat retry`,
 * `skip` and `rollback`, role-checked in the workflow's Update validator; forged, unsigned,
 * wrong-role, reason-less and misdirected decisions are refused before they reach history; the
 * decision is recorded with the operation's decisions; `lifeboat status` shows the pause.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { signDecision } from '../../../approvals/keys.ts';
import type { DecisionPayload, SignedDecision } from '../../../approvals/payload.ts';
import { operationProgress } from '../../../cli/runbook-client.ts';
import type { PausedGroup } from '../../../platform/pauses.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import {
  approvalUpdate,
  pauseDecisionUpdate,
  signedPauseDecisionUpdate,
} from '../../../workflows/messages.ts';
import type { OperationResult, PauseView } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { useInProcessCli } from '../../support/in-process-cli.ts';
import { ALICE_SECRET, diamondPlan, rehash, withOnFailure, withoutSteps } from '../../support/plans.ts';
import { eventually, failureOf, type Harness, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

const cli = useInProcessCli();
const alice = { name: 'alice', secretKey: ALICE_SECRET };
const BOB_SECRET = ed25519.utils.randomSecretKey();
const bob = { name: 'bob', secretKey: BOB_SECRET };

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

/** `plan` with the secondary failing `startVm` of `vm` (`times` times, else always). */
function withFailingStart<T>(
  plan: Plan,
  vm: string,
  times: number | undefined,
  fn: (h: Harness) => Promise<T>,
) {
  const hooks = makeHooksDir();
  const failures = [{ method: 'startVm', vm, times }];
  return withHarness(
    plan,
    { hooksDir: hooks.dir, driver: (role) => (role === 'secondary' ? { failures } : {}) },
    fn,
  );
}

function pauseOf(h: Harness, opId: string): Promise<PauseView> {
  return eventually(async () => (await operationProgress(h.client, opId)).pauses[0], 30_000, 'pause');
}

/** Sends a decision we built (and maybe tampered with) ourselves; the refusal's code, or 'accepted'. */
async function sendRaw(h: Harness, workflowId: string, d: SignedDecision): Promise<string> {
  return h.client.workflow
    .getHandle(workflowId)
    .executeUpdate(signedPauseDecisionUpdate, { args: [d] })
    .then(
      () => 'accepted',
      (e: { cause?: { type?: string } }) => e.cause?.type ?? 'UNKNOWN',
    );
}

function acceptedUpdates(h: Harness, workflowId: string): Promise<number> {
  return h.client.workflow
    .getHandle(workflowId)
    .fetchHistory()
    .then(
      (hist) => (hist.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length,
    );
}

describe('signed pause decisions', () => {
  it('refuses forged, unsigned, wrong-role, reason-less and misdirected decisions; retry re-runs the group', async () => {
    // b is gated by incident-commander: only alice may decide its pause; bob is an observer.
    const plan = withBob(withOnFailure(diamondPlan(), 'b', 'pause'));
    await withFailingStart(plan, 'b-1', 1, async (h) => {
      const runbook = h.plan.runbook.name;
      const op = await h.start('drill');
      await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);
      expect(
        (await cli.run('approve', runbook, '--step', 'b/before/0', '--reason', 'go', '--operator', 'alice'))
          .code,
      ).toBe(0);
      const pause = await pauseOf(h, op.id);
      expect(pause).toMatchObject({
        group: 'b',
        stepId: 'pause:b/1',
        roles: ['incident-commander'],
        deciders: ['alice'],
      });
      expect(pause.error).toContain('injected failure');

      // status shows the pause, with its error, since when and who may decide.
      const paused = await eventually(async () => {
        const r = await cli.run('status', '--runbook', runbook, '--json');
        const p = (JSON.parse(r.stdout) as { pauses: PausedGroup[] }).pauses;
        return p.length > 0 ? p : undefined;
      });
      expect(paused).toEqual([
        expect.objectContaining({ runbook, operationWorkflowId: op.id, group: 'b', deciders: ['alice'] }),
      ]);
      expect(paused[0]?.error).toContain('injected failure');
      expect(Date.parse(paused[0]?.since ?? '')).toBe(pause.since);
      const human = await cli.run('status', '--runbook', runbook);
      expect(human.stdout.split('\n')[0]).toBe('Groups paused:');
      expect(human.stdout).toContain(`lifeboat retry|skip|rollback ${runbook} --group b --reason`);

      const fresh = (over: Partial<DecisionPayload> = {}): DecisionPayload => ({
        workflowId: pause.workflowId,
        stepId: pause.stepId,
        decision: 'retry',
        reason: 'transient',
        time: new Date().toISOString(),
        ...over,
      });
      expect(await sendRaw(h, pause.workflowId, signDecision(bob, fresh()))).toBe('WRONG_ROLE');
      expect(await sendRaw(h, pause.workflowId, { ...signDecision(bob, fresh()), operator: 'alice' })).toBe(
        'BAD_SIGNATURE',
      );
      expect(await sendRaw(h, pause.workflowId, { ...signDecision(alice, fresh()), signature: '' })).toBe(
        'BAD_SIGNATURE',
      );
      expect(await sendRaw(h, pause.workflowId, signDecision(alice, fresh({ reason: ' ' })))).toBe(
        'NO_REASON',
      );
      expect(
        await sendRaw(h, pause.workflowId, signDecision(alice, fresh({ workflowId: 'runbook/x/drill/9' }))),
      ).toBe('WRONG_WORKFLOW');
      expect(await sendRaw(h, pause.workflowId, signDecision(alice, fresh({ stepId: 'pause:b/2' })))).toBe(
        'NOT_PAUSED',
      );
      // An approval's bytes are no pause decision, under either Update.
      const approve = signDecision(alice, fresh({ decision: 'approve' }));
      expect(await sendRaw(h, pause.workflowId, approve)).toBe('BAD_DECISION');
      const asGate = await h.client.workflow
        .getHandle(pause.workflowId)
        .executeUpdate(approvalUpdate, { args: [signDecision(alice, fresh())] })
        .then(
          () => 'accepted',
          (e: { cause?: { type?: string } }) => e.cause?.type,
        );
      expect(asGate).toBe('NO_SUCH_GATE');
      // The old unsigned request is refused outright.
      const unsigned = await h.client.workflow
        .getHandle(pause.workflowId)
        .executeUpdate(pauseDecisionUpdate, { args: [{ group: 'b', decision: 'resume', reason: 'x' }] })
        .then(
          () => 'accepted',
          (e: { cause?: { type?: string } }) => e.cause?.type,
        );
      expect(unsigned).toBe('UNSIGNED');
      // The CLI wants a reason before it signs anything.
      expect((await cli.run('retry', runbook, '--group', 'b', '--operator', 'alice')).code).toBe(2);
      // A group that is not paused.
      const notPaused = await cli.run(
        'retry',
        runbook,
        '--group',
        'a',
        '--reason',
        'x',
        '--operator',
        'alice',
      );
      expect(notPaused.code).toBe(1);
      expect(notPaused.stderr).toContain('NOT_PAUSED');

      const retried = await cli.run(
        'retry',
        runbook,
        '--group',
        'b',
        '--reason',
        'transient',
        '--operator',
        'alice',
        '--json',
      );
      expect(retried.code).toBe(0);
      expect(JSON.parse(retried.stdout)).toMatchObject({
        stepId: 'pause:b/1',
        group: 'b',
        decision: 'retry',
        operator: 'alice',
        role: 'incident-commander',
        reason: 'transient',
      });
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      expect(result.decisions.map((d) => [d.stepId, d.decision, d.operator])).toEqual([
        ['b/before/0', 'approve', 'alice'],
        ['pause:b/1', 'retry', 'alice'],
      ]);
      expect(result.decisions[1]?.signature).toMatch(/^[A-Za-z0-9+/]{86}==$/);
      expect(h.secondary.calls.filter((c) => c.method === 'startVm' && c.vm === 'b-1' && c.ok)).toHaveLength(
        1,
      );
      // Only the approval and the retry reached history.
      expect(await acceptedUpdates(h, op.id)).toBe(2);
      await saveHistory(h.client, op.id, 'operationWorkflow', 'drill-pause-signed-retry');
    });
  });

  it('skip (groups as child workflows) leaves the group failed and goes on; the operation ends partial', async () => {
    const plan = withOnFailure(
      withoutSteps(diamondPlan(), (s) => s.kind === 'approval'),
      'c',
      'pause',
    );
    await withFailingStart(plan, 'c-1', undefined, async (h) => {
      const runbook = h.plan.runbook.name;
      const op = await h.start('drill', { childGroups: 'always' });
      const pause = await pauseOf(h, op.id);
      // c has no gate: every role of the Plan may decide.
      expect(pause).toMatchObject({
        workflowId: `${op.id}/group/c`,
        roles: ['incident-commander'],
        deciders: ['alice'],
      });
      const skipped = await cli.run(
        'skip',
        runbook,
        '--group',
        'c',
        '--reason',
        'c is optional',
        '--operator',
        'alice',
      );
      expect(skipped.code).toBe(0);
      expect(skipped.stdout).toMatch(/^c: skip by alice \(incident-commander\) recorded at /);
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('partial');
      expect(result.groups).toMatchObject({ c: 'continued', d: 'succeeded' });
      expect(result.decisions).toEqual([
        expect.objectContaining({
          stepId: 'pause:c/1',
          group: 'c',
          decision: 'skip',
          reason: 'c is optional',
        }),
      ]);
      await saveHistory(h.client, `${op.id}/group/c`, 'groupWorkflow', 'pause-signed-skip');
    });
  });

  it('rollback undoes the operation and the decision is in its result', async () => {
    const plan = withOnFailure(
      withoutSteps(diamondPlan(), (s) => s.kind === 'approval'),
      'c',
      'pause',
    );
    await withFailingStart(plan, 'c-1', undefined, async (h) => {
      const runbook = h.plan.runbook.name;
      const op = await h.start('drill');
      await pauseOf(h, op.id);
      const rolled = await cli.run(
        'rollback',
        runbook,
        '--group',
        'c',
        '--reason',
        'give up',
        '--operator',
        'alice',
      );
      expect(rolled.code).toBe(0);
      const failure = await failureOf(h.client.workflow.getHandle(op.id).result());
      expect(failure?.type).toBe('OPERATION_ROLLED_BACK');
      const result = failure?.details?.[0] as OperationResult;
      expect(result.decisions).toEqual([
        expect.objectContaining({
          stepId: 'pause:c/1',
          decision: 'rollback',
          operator: 'alice',
          reason: 'give up',
        }),
      ]);
      for (const vm of ['a-1', 'b-1']) expect(h.secondary.vmState(vm)).toBe('shut off');
    });
  });
});
