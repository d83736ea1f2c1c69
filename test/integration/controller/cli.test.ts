import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../../cli/exit-codes.ts';
import { operationProgress } from '../../../cli/runbook-client.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../../../platform/names.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { useInProcessCli } from '../../support/in-process-cli.ts';
import { DIAMOND_FILE, diamondPlan, withOnFailure } from '../../support/plans.ts';
import { eventually, type Harness, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

const cli = useInProcessCli();

/** `lifeboat approve|reject` of a gate in the harness's runbook, as alice; `more` adds options. */
function asAlice(h: Harness, verb: 'approve' | 'reject', step: string, ...more: string[]) {
  return cli.run(verb, h.plan.runbook.name, '--step', step, '--operator', 'alice', ...more);
}

/** The diamond's YAML with the names the harness gave its isolated plan. */
function isolatedYaml(h: Harness): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-rb-'));
  const file = path.join(dir, 'diamond.yaml');
  const text = readFileSync(DIAMOND_FILE, 'utf8')
    .replace(/name: diamond\b/, `name: ${h.plan.runbook.name}`)
    .replace(/name: east\b/, `name: ${h.plan.sites.primary.name}`)
    .replace(/name: west\b/, `name: ${h.plan.sites.secondary.name}`);
  writeFileSync(file, text);
  return file;
}

describe('lifeboat operator, drill, approve, reject', () => {
  it('operator init writes a private key 0600 and prints the public key line', async () => {
    const init = await cli.run('operator', 'init', '--name', 'carol');
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=\n$/);
    expect(statSync(path.join(cli.operatorDir(), 'carol.key')).mode & 0o777).toBe(0o600);
    expect((await cli.run('operator', 'init', '--name', 'carol')).code).toBe(ExitCode.failed);
  });

  it('drill starts through the controller, a second drill is refused with the first id, approve lets it finish', async () => {
    const hooks = makeHooksDir();
    await withHarness(
      diamondPlan(),
      { hooksDir: hooks.dir, taskQueue: ORCHESTRATOR_TASK_QUEUE },
      async (h) => {
        const file = isolatedYaml(h);
        const first = await cli.run('drill', file, '--json');
        expect(first.code).toBe(0);
        const op = JSON.parse(first.stdout) as { id: string };
        expect(op.id).toBe(`runbook/${h.plan.runbook.name}/drill/1`);
        const second = await cli.run('drill', file, '--json');
        expect(second.code).toBe(ExitCode.conflict);
        expect(JSON.parse(second.stdout)).toMatchObject({
          refused: 'CONFLICT',
          conflictsWith: { id: op.id, kind: 'drill' },
        });
        await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);
        const noReason = await asAlice(h, 'approve', 'b/before/0');
        expect(noReason.code).toBe(ExitCode.usage);
        const noGate = await asAlice(h, 'approve', 'z/before/0', '--reason', 'x');
        expect(noGate.code).toBe(ExitCode.failed);
        expect(noGate.stderr).toContain('NO_SUCH_GATE');
        const approved = await asAlice(h, 'approve', 'b/before/0', '--reason', 'isolated', '--json');
        expect(approved.code).toBe(0);
        expect(JSON.parse(approved.stdout)).toMatchObject({
          operator: 'alice',
          decision: 'approve',
          reason: 'isolated',
        });
        const result = (await h.client.workflow.getHandle(op.id).result()) as OperationResult;
        expect(result.outcome).toBe('succeeded');
      },
    );
  });

  it('reject fails the gate and the group policy rolls back', async () => {
    const hooks = makeHooksDir();
    await withHarness(withOnFailure(diamondPlan(), 'b', 'rollback'), { hooksDir: hooks.dir }, async (h) => {
      const op = await h.start('drill');
      await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);
      const rejected = await asAlice(h, 'reject', 'b/before/0', '--reason', 'not today');
      expect(rejected.code).toBe(0);
      const error = await h.client.workflow
        .getHandle(op.id)
        .result()
        .then(
          () => undefined,
          (e: { cause?: { type?: string; details?: unknown[] } }) => e.cause,
        );
      expect(error?.type).toBe('OPERATION_ROLLED_BACK');
      const result = error?.details?.[0] as OperationResult;
      expect(result.decisions).toMatchObject([
        { decision: 'reject', operator: 'alice', reason: 'not today' },
      ]);
      expect(result.error).toContain('rejected by alice');
    });
  });
});
