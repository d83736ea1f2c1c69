/**
 * `lifeboat status` lists the approval gates an operation waits on and who may approve them,
 * from the interpreter's progress query, in `--json` and in the human table; an approved gate
 * leaves the list.
 */
import { describe, expect, it } from 'vitest';
import { operationProgress } from '../../../cli/runbook-client.ts';
import type { WaitingGate } from '../../../platform/operations.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { useInProcessCli } from '../../support/in-process-cli.ts';
import { diamondPlan } from '../../support/plans.ts';
import { eventually, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

const cli = useInProcessCli();

describe('lifeboat status and approval gates', () => {
  it('lists a waiting gate with its role and approvers, and drops it once approved', async () => {
    const hooks = makeHooksDir();
    await withHarness(diamondPlan(), { hooksDir: hooks.dir }, async (h) => {
      const runbook = h.plan.runbook.name;
      const op = await h.start('drill');
      await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);

      // Visibility lags the workflow a little: wait until status sees the operation.
      const gates = await eventually(async () => {
        const r = await cli.run('status', '--runbook', runbook, '--json');
        expect(r.code).toBe(0);
        const g = (JSON.parse(r.stdout) as { gates: WaitingGate[] }).gates;
        return g.length > 0 ? g : undefined;
      });
      expect(gates).toEqual([
        expect.objectContaining({
          runbook,
          operation: 'drill',
          operationWorkflowId: op.id,
          stepId: 'b/before/0',
          group: 'b',
          role: 'incident-commander',
          approvers: ['alice'],
          prompt: 'Bring b back?',
        }),
      ]);
      const g = gates[0]!;
      expect(Date.parse(g.expiresAt) - Date.parse(g.openedAt)).toBe(10 * 60_000);

      const human = await cli.run('status', '--runbook', runbook);
      expect(human.code).toBe(0);
      const lines = human.stdout.split('\n');
      expect(lines[0]).toBe('Gates waiting:');
      expect(lines[1]).toMatch(/^RUNBOOK\s+OPERATION\s+STEP\s+ROLE\s+APPROVERS\s+EXPIRES\s+PROMPT$/);
      expect(lines[2]).toMatch(
        new RegExp(
          `^${runbook}\\s+drill\\s+b/before/0\\s+incident-commander\\s+alice\\s+\\S+ \\S+ \\(in \\d+m\\)\\s+Bring b back\\?$`,
        ),
      );
      expect(human.stdout).toContain(`lifeboat approve ${runbook} --step b/before/0 --reason`);

      const approved = await cli.run(
        'approve',
        runbook,
        '--step',
        'b/before/0',
        '--reason',
        'go',
        '--operator',
        'alice',
      );
      expect(approved.code).toBe(0);
      await eventually(async () => {
        const r = await cli.run('status', '--runbook', runbook, '--json');
        return (JSON.parse(r.stdout) as { gates: WaitingGate[] }).gates.length === 0 ? true : undefined;
      });
      const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
      expect(result.outcome).toBe('succeeded');
    });
  });
});
