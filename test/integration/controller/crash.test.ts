import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { commitFailover } from '../../../cli/runbook-client.ts';
import { ensureDevServer, stopDevServer } from '../../../platform/dev-server.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { ALICE_SECRET, diamondPlan, planVms, withoutSteps } from '../../support/plans.ts';
import { freeLoopbackPort } from '../../support/ports.ts';
import { type RecordedCall, RecordingDriver } from '../../support/recording-driver.ts';
import { eventually, type Harness, temporalAddress, WORKFLOWS_PATH, withHarness } from './harness.ts';
import { makeHooksDir } from './hooks-fixture.ts';
import type { WorkerProcessConfig } from './worker-process.ts';

const SCRIPT = path.join(import.meta.dirname, 'worker-process.ts');
const MUTATIONS = new Set(['startVm', 'shutdownVm', 'destroyVm', 'defineVm', 'undefineVm']);

function startWorkers(cfg: WorkerProcessConfig): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { ...process.env, LIFEBOAT_TEST_WORKER: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
  });
}

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };

/**
 * A disaster failover of the diamond whose workers (one child process) are SIGKILLed once a-1 is
 * up and checked, while wave 1's actions are under way; `between` runs before they start again.
 * The failover must finish, and every VM action must have run exactly once.
 */
async function killedMidWave(h: Harness, address: string, between: () => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-crash-'));
  const vms = planVms(h.plan);
  const files = { primary: path.join(dir, 'primary.json'), secondary: path.join(dir, 'secondary.json') };
  const cfg: WorkerProcessConfig = {
    address,
    namespace: h.client.options.namespace,
    taskQueue: h.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    sites: [
      {
        name: h.plan.sites.primary.name,
        file: files.primary,
        vms: vms.map((name) => ({ name, state: 'running' as const })),
      },
      { name: h.plan.sites.secondary.name, file: files.secondary, vms: [] },
    ],
    delayMs: 1_500,
    hooksDir: makeHooksDir().dir,
  };
  let child = await startWorkers(cfg);
  try {
    const op = await h.start('failover', { mode: 'disaster' });
    // Kill once group a (wave 0) is up and checked, while wave 1's actions are under way.
    await eventually(
      async () => {
        const calls = existsSync(files.secondary) ? RecordingDriver.readCalls(files.secondary) : [];
        // A copy built from a point is probed from inside (through its agent).
        const checked = (c: RecordedCall) =>
          (c.method === 'probeTcp' || c.method === 'agentExec') && c.vm === 'a-1' && c.ok;
        return calls.some(checked) ? true : undefined;
      },
      60_000,
      'a-1 checked',
    ).catch(async (err: Error) => {
      const p = await h.client.workflow.getHandle(op.id).query<unknown>('lifeboat.progress');
      const calls = existsSync(files.secondary) ? RecordingDriver.readCalls(files.secondary) : [];
      throw new Error(
        `${err.message}; progress ${JSON.stringify(p)}; secondary calls ${JSON.stringify(calls.map((c) => [c.method, c.vm, c.ok]))}`,
      );
    });
    await new Promise((r) => setTimeout(r, 700));
    const killedPid = child.pid;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await between();
    child = await startWorkers(cfg);
    expect(child.pid).not.toBe(killedPid);
    const result = (await eventually(
      async () => {
        const p = await h.client.workflow.getHandle(op.id).query<{ state: string }>('lifeboat.progress');
        if (p.state === 'waiting-commit') {
          await commitFailover(h.client, {
            operationId: op.id,
            decision: 'commit',
            reason: 'test',
            key: alice,
          });
        }
        return p.state === 'succeeded' ? h.client.workflow.getHandle(op.id).result() : undefined;
      },
      120_000,
      'failover to finish',
    ).catch(async (err: Error) => {
      const hist = await h.client.workflow.getHandle(op.id).fetchHistory();
      const failed = (hist.events ?? [])
        .filter((e) => e.workflowTaskFailedEventAttributes)
        .map((e) => e.workflowTaskFailedEventAttributes?.failure?.message);
      throw new Error(`${err.message}; task failures ${JSON.stringify(failed.slice(0, 3))}`);
    })) as OperationResult;
    expect(result.outcome).toBe('succeeded');
    const calls = [
      ...RecordingDriver.readCalls(files.primary),
      ...RecordingDriver.readCalls(files.secondary),
    ];
    // Both processes did work: the kill really happened mid-operation.
    expect(new Set(calls.map((c) => c.pid)).size).toBe(2);
    const counts = new Map<string, number>();
    for (const c of calls) {
      if (!c.ok || !MUTATIONS.has(c.method)) continue;
      const key = `${c.site}/${c.method}/${c.vm}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const expected = vms.flatMap((vm) => [
      // Fenced by the primary's worker: forced off, once.
      `${h.plan.sites.primary.name}/destroyVm/${vm}`,
      // Built at the secondary from the point: defined once, started once.
      `${h.plan.sites.secondary.name}/defineVm/${vm}`,
      `${h.plan.sites.secondary.name}/startVm/${vm}`,
    ]);
    expect([...counts.keys()].sort()).toEqual(expected.sort());
    for (const [key, n] of counts) expect(n, key).toBe(1);
    const finalVms = RecordingDriver.readVms(files.secondary);
    for (const vm of vms) expect(finalVms[vm]?.state).toBe('running');
  } finally {
    child.kill('SIGTERM');
  }
}

describe('worker killed mid-operation', () => {
  it('SIGKILLed during a wave and restarted: the operation finishes and every action ran exactly once', async () => {
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    await withHarness(plan, { siteWorkers: false, orchestrator: false }, (h) =>
      killedMidWave(h, temporalAddress(), async () => {}),
    );
  });

  it('the Temporal server restarted with its database kept (workers killed with it): the failover finishes, every action once', async () => {
    const plan = withoutSteps(diamondPlan(), (s) => s.kind === 'approval');
    const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-crash-server-'));
    const port = await freeLoopbackPort();
    const server = await ensureDevServer({ home, port, headless: true });
    const connection = await Connection.connect({ address: server.address });
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    try {
      const client = new Client({ connection });
      await withHarness(
        plan,
        { siteWorkers: false, orchestrator: false, server: { client, nativeConnection } },
        (h) =>
          killedMidWave(h, server.address, async () => {
            const before = server.pid;
            await stopDevServer(home);
            const again = await ensureDevServer({ home, port, headless: true });
            expect(again.reused).toBe(false);
            expect(again.pid).not.toBe(before);
          }),
      );
    } finally {
      await nativeConnection.close();
      await connection.close();
      await stopDevServer(home);
      rmSync(home, { recursive: true, force: true });
    }
  });
});
