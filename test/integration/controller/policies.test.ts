import { existsSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { PauseChoice } from '../../../approvals/payload.ts';
import {
  cancelOperation,
  commitFailover,
  decidePause,
  operationProgress,
  runbookState,
} from '../../../cli/runbook-client.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import type { OperationResult, PauseView } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_SECRET, diamondPlan, rehash, withOnFailure, withoutSteps } from '../../support/plans.ts';
import type { RecordedCall } from '../../support/recording-driver.ts';
import { eventually, type Harness, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

/** The diamond without its gate; hooks installed; every mutating call takes a little time. */
const base = () => withoutSteps(diamondPlan(), (s) => s.kind === 'approval');

function ok(calls: readonly RecordedCall[], method: string): RecordedCall[] {
  return calls.filter((c) => c.method === method && c.ok);
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/**
 * Runs `fn` on `plan` with hooks installed and the secondary failing `startVm` of `failing` (the
 * first `times` calls, else every one); `delayMs` slows every mutating call at both sites.
 */
function withFailingStart<T>(
  plan: Plan,
  o: { failing: string; times?: number; delayMs?: number },
  fn: (h: Harness) => Promise<T>,
): Promise<T> {
  const hooks = makeHooksDir();
  const both = { delayMs: o.delayMs };
  const failures = [{ method: 'startVm', vm: o.failing, times: o.times }];
  return withHarness(
    plan,
    { hooksDir: hooks.dir, driver: (role) => (role === 'secondary' ? { ...both, failures } : both) },
    fn,
  );
}

/** The operation's first pause, once there is one. */
function firstPause(h: Harness, opId: string): Promise<PauseView> {
  return eventually(async () => (await operationProgress(h.client, opId)).pauses[0], 30_000, 'pause');
}

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };

/** Decides group c's pause, signed by alice, as `lifeboat retry|skip|rollback` does. */
function decideC(h: Harness, _pause: PauseView, decision: PauseChoice, reason: string) {
  return decidePause(h.client, { runbook: h.plan.runbook.name, group: 'c', decision, reason, key: alice });
}

describe('interpreter: onFailure policies and compensation', () => {
  it('rollback: a failure in d undoes every completed action in reverse order', async () => {
    await withFailingStart(base(), { failing: 'd-1', delayMs: 100 }, async (h) => {
      const op = await h.start('failover', { mode: 'disaster' });
      const f = await failure(h.client.workflow.getHandle(op.id).result());
      expect(f.type).toBe('OPERATION_ROLLED_BACK');
      const result = f.details?.[0] as OperationResult;
      expect(result.outcome).toBe('rolled-back');
      expect(result.groups.d).toBe('failed');
      // Completed actions, in completion order, across both sites...
      const all = [...h.primary.calls, ...h.secondary.calls]
        .filter((c) => c.ok)
        .sort((x, y) => x.end - y.end);
      // (the primary's VMs are forced off by the fence its worker enforces: destroyVm)
      const forward = all.filter((c) => ['startVm', 'shutdownVm', 'destroyVm'].includes(c.method));
      const firstUndo = forward.findIndex(
        (c) => c.vm === 'd-1' && c.method === 'shutdownVm' && c.site === h.secondary.site,
      );
      // (d-1 never started on the secondary, so its undo chain starts with the primary restart)
      const done = forward.slice(0, forward.length / 2);
      const undone = forward.slice(forward.length / 2);
      expect(firstUndo).toBe(-1);
      // ...are all undone, each exactly once...
      const key = (c: RecordedCall) => `${c.site}/${c.method}/${c.vm}`;
      const undoOf = (c: RecordedCall) =>
        c.method !== 'startVm' ? 'startVm' : c.site === h.primary.site ? 'destroyVm' : 'shutdownVm';
      const mirror = (c: RecordedCall) => `${c.site}/${undoOf(c)}/${c.vm}`;
      expect(undone.map(key).sort()).toEqual(done.map(mirror).sort());
      // ...in reverse: an action of a later wave, or a later one of the same VM, is undone first.
      // (b and c share a wave and ran in parallel: between them no order is owed.)
      const wave = (vm: string | undefined) => h.plan.waves.findIndex((w) => w.includes(vm!.slice(0, 1)));
      expect(done.every((c) => wave(c.vm) >= 0)).toBe(true);
      const undoAt = (c: RecordedCall) => undone.map(key).indexOf(mirror(c));
      for (const [i, x] of done.entries()) {
        for (const y of done.slice(i + 1)) {
          if (wave(y.vm) > wave(x.vm) || y.vm === x.vm) {
            expect(undoAt(y), `${key(y)} is undone before ${key(x)}`).toBeLessThan(undoAt(x));
          }
        }
      }
      // Everything is back where it was: production running on the primary, the secondary off.
      for (const vm of ['a-1', 'b-1', 'c-1', 'd-1']) {
        expect(h.primary.vmState(vm)).toBe('running');
        expect(h.secondary.vmState(vm)).toBe('shut off');
      }
      const state = await runbookState(h.client, h.plan.runbook.name);
      expect(state.phase).toBe('normal');
      expect(state.inFlight).toEqual([]);
      expect(state.recent.at(-1)).toMatchObject({ id: op.id, outcome: 'rolled-back' });
      await saveHistory(h.client, op.id, 'operationWorkflow', 'failover-rollback');
    });
  });

  it('continue: a failed group is recorded and later waves still run', async () => {
    await withFailingStart(withOnFailure(base(), 'c', 'continue'), { failing: 'c-1' }, async (h) => {
      const op = await h.start('drill');
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('partial');
      expect(result.groups).toMatchObject({
        a: 'succeeded',
        b: 'succeeded',
        c: 'continued',
        d: 'succeeded',
      });
      expect(
        ok(h.secondary.calls, 'startVm')
          .map((c) => c.vm)
          .sort(),
      ).toEqual(['a-1', 'b-1', 'd-1']);
      expect(result.error).toContain('c:');
    });
  });

  it('a partial failover waits for an operator past its commit window, and says which groups run where', async () => {
    const continued = withOnFailure(base(), 'c', 'continue');
    // A commit window of 2 s that would commit on its own: a partial failover must not.
    const plan = rehash({
      ...continued,
      failover: { ...continued.failover, commitWithinMs: 2_000, onCommitTimeout: 'commit' },
    });
    await withFailingStart(plan, { failing: 'c-1' }, async (h) => {
      const op = await h.start('failover', { mode: 'disaster' });
      const p = await eventually(async () => {
        const p = await operationProgress(h.client, op.id);
        return p.placement ? p : undefined;
      });
      expect(p.state).toBe('waiting-commit');
      expect(p.placement).toContain(
        `running at ${h.plan.sites.secondary.name}: a, b, d; failed, running nowhere: c`,
      );
      await new Promise((r) => setTimeout(r, 5_000));
      expect((await operationProgress(h.client, op.id)).state).toBe('waiting-commit');
      await commitFailover(h.client, {
        operationId: op.id,
        decision: 'rollback',
        reason: 'c did not come up',
        key: alice,
      });
      const f = await failure(h.client.workflow.getHandle(op.id).result());
      const r = f.details?.[0] as OperationResult;
      expect(r.outcome).toBe('rolled-back');
      for (const vm of ['a-1', 'b-1', 'd-1']) expect(h.secondary.vmState(vm)).toBe('shut off');
      await saveHistory(h.client, op.id, 'operationWorkflow', 'failover-partial-rollback');
    });
  });

  it('pause: a failed group waits for a decision, and resume retries it', async () => {
    await withFailingStart(withOnFailure(base(), 'c', 'pause'), { failing: 'c-1', times: 1 }, async (h) => {
      const op = await h.start('drill');
      const pause = await firstPause(h, op.id);
      expect(pause.group).toBe('c');
      expect(pause.error).toContain('injected failure');
      // d waits behind the paused group.
      expect(h.secondary.calls.some((c) => c.vm === 'd-1')).toBe(false);
      const refused = await decideC(h, pause, 'retry', '').then(
        () => 'accepted',
        (e: Error) => e.name,
      );
      expect(refused).toBe('RequestRefusedError');
      await decideC(h, pause, 'retry', 'transient');
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
      expect(ok(h.secondary.calls, 'startVm').filter((c) => c.vm === 'c-1')).toHaveLength(1);
      await saveHistory(h.client, op.id, 'operationWorkflow', 'drill-pause-resume');
    });
  });

  it('pause then rollback: the decision rolls the operation back', async () => {
    await withFailingStart(withOnFailure(base(), 'c', 'pause'), { failing: 'c-1' }, async (h) => {
      const op = await h.start('drill');
      await decideC(h, await firstPause(h, op.id), 'rollback', 'give up');
      const f = await failure(h.client.workflow.getHandle(op.id).result());
      expect(f.type).toBe('OPERATION_ROLLED_BACK');
      expect(
        ok(h.secondary.calls, 'shutdownVm')
          .map((c) => c.vm)
          .sort(),
      ).toEqual(['a-1', 'b-1']);
    });
  });

  it.each([
    ['inline', 'never'],
    ['as child workflows', 'always'],
  ] as const)(
    'cancellation mid-wave (groups %s) lets in-flight actions finish, then runs the compensations',
    async (_label, childGroups) => {
      const hooks = makeHooksDir();
      await withHarness(
        base(),
        { hooksDir: hooks.dir, driver: () => ({ delayMs: { startVm: 1500, shutdownVm: 50 } }) },
        async (h) => {
          const op = await h.start('drill', { childGroups });
          // Wait until wave 1 (b and c) is booting, then cancel through the controller.
          await eventually(async () => {
            const p = await operationProgress(h.client, op.id);
            return p.groups.b?.state === 'running' && p.groups.c?.state === 'running' ? true : undefined;
          });
          await cancelOperation(h.client, {
            runbook: h.plan.runbook.name,
            operationId: op.id,
            reason: 'test',
            key: alice,
          });
          const err = await h.client.workflow
            .getHandle(op.id)
            .result()
            .then(
              () => undefined,
              (e: unknown) => e as WorkflowFailedError,
            );
          expect(err?.cause?.name).toBe('CancelledFailure');
          const started = ok(h.secondary.calls, 'startVm').map((c) => c.vm as string);
          expect(started).not.toContain('d-1');
          expect(started).toContain('a-1');
          // Every VM the drill started is stopped again; nothing was left running.
          expect(
            ok(h.secondary.calls, 'shutdownVm')
              .map((c) => c.vm)
              .sort(),
          ).toEqual([...started].sort());
          for (const vm of started) expect(h.secondary.vmState(vm)).toBe('shut off');
          // Nothing new started after the cancellation: c's after-step hook never ran.
          expect(existsSync(hooks.logFile)).toBe(false);
          const state = await runbookState(h.client, h.plan.runbook.name);
          expect(state.recent.at(-1)).toMatchObject({ id: op.id, outcome: 'cancelled' });
          await saveHistory(h.client, op.id, 'operationWorkflow', `drill-cancelled-${childGroups}`);
        },
      );
    },
  );
});
