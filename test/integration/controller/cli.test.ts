import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { ExitCode } from '../../../cli/exit-codes.ts';
import { main } from '../../../cli/main.ts';
import { operationProgress } from '../../../cli/runbook-client.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../../../platform/names.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { ALICE_SECRET, DIAMOND_FILE, diamondPlan, withOnFailure } from '../../support/plans.ts';
import { eventually, type Harness, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';

let out: string[] = [];
let err: string[] = [];
let operatorDir: string;

beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err.push(String(s));
    return true;
  });
  operatorDir = mkdtempSync(path.join(tmpdir(), 'lifeboat-operators-'));
  process.env.LIFEBOAT_OPERATOR_DIR = operatorDir;
  // alice's example key (see diamond.yaml), in the key-file format `operator init` writes.
  const file = path.join(operatorDir, 'alice.key');
  writeFileSync(file, JSON.stringify({ name: 'alice', secretKey: bytesToBase64(ALICE_SECRET) }));
  chmodSync(file, 0o600);
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  delete process.env.LIFEBOAT_OPERATOR_DIR;
});

async function cli(...args: string[]): Promise<number> {
  const code = await main(['node', 'lifeboat', ...args]);
  process.exitCode = undefined;
  return code;
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
    expect(await cli('operator', 'init', '--name', 'carol')).toBe(0);
    expect(out.join('')).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=\n$/);
    expect(statSync(path.join(operatorDir, 'carol.key')).mode & 0o777).toBe(0o600);
    expect(await cli('operator', 'init', '--name', 'carol')).toBe(ExitCode.failed);
  });

  it('drill starts through the controller, a second drill is refused with the first id, approve lets it finish', async () => {
    const hooks = makeHooksDir();
    await withHarness(
      diamondPlan(),
      { hooksDir: hooks.dir, taskQueue: ORCHESTRATOR_TASK_QUEUE },
      async (h) => {
        const file = isolatedYaml(h);
        expect(await cli('drill', file, '--json')).toBe(0);
        const op = JSON.parse(out.join('')) as { id: string };
        expect(op.id).toBe(`runbook/${h.plan.runbook.name}/drill/1`);
        out = [];
        expect(await cli('drill', file, '--json')).toBe(ExitCode.conflict);
        expect(JSON.parse(out.join(''))).toMatchObject({
          refused: 'CONFLICT',
          conflictsWith: { id: op.id, kind: 'drill' },
        });
        await eventually(async () => (await operationProgress(h.client, op.id)).gates[0]);
        expect(await cli('approve', h.plan.runbook.name, '--step', 'b/before/0', '--operator', 'alice')).toBe(
          ExitCode.usage,
        );
        expect(
          await cli(
            'approve',
            h.plan.runbook.name,
            '--step',
            'z/before/0',
            '--reason',
            'x',
            '--operator',
            'alice',
          ),
        ).toBe(ExitCode.failed);
        expect(err.join('')).toContain('NO_SUCH_GATE');
        out = [];
        const code = await cli(
          'approve',
          h.plan.runbook.name,
          '--step',
          'b/before/0',
          '--reason',
          'isolated',
          '--operator',
          'alice',
          '--json',
        );
        expect(code).toBe(0);
        expect(JSON.parse(out.join(''))).toMatchObject({
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
      expect(
        await cli(
          'reject',
          h.plan.runbook.name,
          '--step',
          'b/before/0',
          '--reason',
          'not today',
          '--operator',
          'alice',
        ),
      ).toBe(0);
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
