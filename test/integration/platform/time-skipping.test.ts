import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operationProgress, runbookState } from '../../../cli/runbook-client.ts';
import { REPO_ROOT } from '../../../platform/home.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { diamondPlan, withApprovalWithin, withOnFailure } from '../../support/plans.ts';
import type { RecordedCall } from '../../support/recording-driver.ts';
import { startTimeSkipping, timeSkippingServerPath } from '../../support/time-skipping.ts';
import { eventually, failureOf, withHarness } from '../controller/harness.ts';
import { makeHooksDir } from '../controller/hooks-fixture.ts';

const TWO_HOURS = 2 * 60 * 60 * 1000;

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(async () => {
  await env?.teardown();
});

const calls = (cs: readonly RecordedCall[]) => cs.map((c) => `${c.method} ${c.vm ?? ''}`.trim());

describe('the time-skipping server', () => {
  it('runs from the binary scripts/setup.sh installed, never a download', () => {
    const installed = timeSkippingServerPath();
    expect(existsSync(installed)).toBe(true);
    expect(env.options.server).toEqual({
      type: 'time-skipping',
      executable: { type: 'existing-path', path: installed },
    });
    // Any other way of starting a test environment would default to the SDK's download.
    const starters: string[] = [];
    const download = ['cached', 'download'].join('-');
    const start = /TestWorkflowEnvironment\.create\w*\(/;
    for (const file of sourceFiles(REPO_ROOT)) {
      const text = readFileSync(file, 'utf8');
      if (text.includes(download)) starters.push(`${file}: names the download executable`);
      if (start.test(text)) starters.push(path.relative(REPO_ROOT, file));
    }
    expect(starters).toEqual([path.join('test', 'support', 'time-skipping.ts')]);
  });

  it('a failover whose 2h approval gate nobody decides expires and rolls back, in seconds', async () => {
    const hooks = makeHooksDir();
    const plan = withOnFailure(withApprovalWithin(diamondPlan(), TWO_HOURS), 'b', 'rollback');
    const server = { client: env.client, nativeConnection: env.nativeConnection };
    await withHarness(plan, { hooksDir: hooks.dir, server }, async (h) => {
      const startedAt = await env.currentTimeMs();
      const op = await h.start('failover', { mode: 'disaster' });
      const gate = await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);
      expect(gate).toMatchObject({ stepId: 'b/before/0', group: 'b', approvers: ['alice'] });
      expect(gate.expiresAt - gate.openedAt).toBe(TWO_HOURS);

      // Awaiting the result lets the server skip ahead to the gate's timer.
      const failure = await failureOf(h.client.workflow.getHandle(op.id).result());
      expect(failure?.type).toBe('OPERATION_ROLLED_BACK');
      expect(failure?.details?.[0]).toMatchObject({
        outcome: 'rolled-back',
        groups: { a: 'rolled-back', b: 'failed', c: 'rolled-back', d: 'pending' },
        decisions: [],
        error: `b: gate b/before/0 expired after ${TWO_HOURS} ms`,
      } satisfies Partial<OperationResult>);
      expect((await env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(TWO_HOURS);

      // The gate closed when its time was up, by the workflow's clock, and nothing else is open.
      const progress = await operationProgress(h.client, op.id);
      const b = progress.groups.b;
      expect(b?.error).toBe(`gate b/before/0 expired after ${TWO_HOURS} ms`);
      expect((b?.endedAt ?? 0) - gate.openedAt).toBeGreaterThanOrEqual(TWO_HOURS);
      expect(progress).toMatchObject({ state: 'rolled-back', gates: [], compensations: { done: 2 } });

      // c finished (its hook ran) while b waited; b-1 was never built at the secondary. The
      // disaster failover fenced the primary (which answered) in reverse dependency order before
      // anything was built; the undo removed c's and a's copies, then the primary's VMs started
      // again in dependency order, as they were.
      expect(readFileSync(hooks.logFile, 'utf8')).toBe('c up\n');
      expect(calls(h.secondary.calls)).toEqual([
        'defineVm a-1',
        'startVm a-1',
        'agentExec a-1',
        'defineVm c-1',
        'startVm c-1',
        'shutdownVm c-1',
        'shutdownVm a-1',
      ]);
      const primary = calls(h.primary.calls);
      // The fence, enforced by the primary's worker, forces them off (no clean shutdown).
      expect(primary[0]).toBe('destroyVm d-1');
      expect(primary.slice(1, 3).sort()).toEqual(['destroyVm b-1', 'destroyVm c-1']);
      expect(primary).toHaveLength(8);
      expect(primary[3]).toBe('destroyVm a-1');
      expect(primary[4]).toBe('startVm a-1');
      expect(primary.slice(5, 7).sort()).toEqual(['startVm b-1', 'startVm c-1']);
      expect(primary[7]).toBe('startVm d-1');
      expect([...h.primary.calls, ...h.secondary.calls].every((c) => c.ok)).toBe(true);
      const state = await runbookState(h.client, h.plan.runbook.name);
      expect(state).toMatchObject({ phase: 'normal', activeSite: 'primary', inFlight: [] });
      expect(state.fence).toBeUndefined();
      expect(state.recent.map((r) => [r.id, r.outcome])).toEqual([[op.id, 'rolled-back']]);
    });
  });
});

/** The repository's own TypeScript files (no dependencies, no state directories). */
function sourceFiles(dir: string): string[] {
  const skip = new Set(['node_modules', '.venv', '.git', '.lifeboat', 'coverage']);
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return skip.has(e.name) ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}
