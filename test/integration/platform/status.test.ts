import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';
import { SEARCH_ATTRIBUTE_KEYS } from '../../../platform/names.ts';
import { listOperations, type OperationRow } from '../../../platform/operations.ts';
import { fixtureFinishSignal, fixtureOperation } from '../../fixtures/platform/workflows/index.ts';
import { runCli } from '../../support/cli.ts';
import { connectTestClient, testServer, uniqueTaskQueue, withWorker } from '../../support/temporal.ts';

const FIXTURE_WORKFLOWS = path.join(REPO_ROOT, 'test', 'fixtures', 'platform', 'workflows', 'index.ts');

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('`lifeboat status`', () => {
  test('lists an operation in flight with its progress, then among the recent ones', async () => {
    const taskQueue = uniqueTaskQueue('status');
    const runbook = `rb-${taskQueue}`;
    const workflowId = `op-${taskQueue}`;
    const { client, connection } = await connectTestClient();
    try {
      await withWorker({ taskQueue, workflowsPath: FIXTURE_WORKFLOWS }, async () => {
        const handle = await client.workflow.start(fixtureOperation, {
          taskQueue,
          workflowId,
          args: [{ total: 3 }],
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTE_KEYS.runbook, value: runbook },
            { key: SEARCH_ATTRIBUTE_KEYS.operation, value: 'drill' },
            { key: SEARCH_ATTRIBUTE_KEYS.state, value: 'restoring' },
          ],
        });
        const inFlight = await until(async () => {
          const r = await listOperations(client, { runbook });
          return r.inFlight.find((o) => o.workflowId === workflowId);
        }, 'the operation in visibility');
        expect(inFlight).toMatchObject({
          runbook,
          operation: 'drill',
          state: 'restoring',
          status: 'RUNNING',
          progress: { phase: 'copying', done: 1, total: 3 },
        });

        // The real CLI, against the same server, while the worker answers the progress query.
        const { address, namespace } = testServer();
        const env = { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace };
        const json = await runCli(['status', '--runbook', runbook, '--json'], env);
        expect(json.code, json.stderr).toBe(0);
        const parsed = JSON.parse(json.stdout) as { inFlight: OperationRow[] };
        expect(parsed.inFlight.map((o) => [o.workflowId, o.operation, o.progress])).toEqual([
          [workflowId, 'drill', { phase: 'copying', done: 1, total: 3 }],
        ]);
        const human = await runCli(['status', '--runbook', runbook], env);
        expect(human.stdout).toMatch(
          new RegExp(`${runbook}\\s+drill\\s+restoring\\s+running\\s+.*copying 1/3`),
        );

        await handle.signal(fixtureFinishSignal);
        await handle.result();
      });
      const recent = await until(async () => {
        const r = await listOperations(client, { runbook });
        return r.inFlight.length === 0 ? r.recent.find((o) => o.workflowId === workflowId) : undefined;
      }, 'the operation among the recent ones');
      expect(recent.status).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
  });
});
