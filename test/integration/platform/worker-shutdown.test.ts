import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';
import { createFixtureActivities } from '../../fixtures/platform/activities.ts';
import { fixtureSlowActivity } from '../../fixtures/platform/workflows/index.ts';
import { freeLoopbackPort } from '../../support/ports.ts';
import { spawnWatched, type Watched } from '../../support/processes.ts';
import { connectTestClient, testServer, uniqueTaskQueue, withWorker } from '../../support/temporal.ts';

const FIXTURE_WORKFLOWS = path.join(REPO_ROOT, 'test', 'fixtures', 'platform', 'workflows', 'index.ts');
const SLOW_WORKER = path.join(REPO_ROOT, 'test', 'fixtures', 'platform', 'slow-worker.ts');

let proc: Watched | undefined;
afterEach(() => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  proc = undefined;
});

async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

describe('worker process', () => {
  test('SIGTERM mid-activity: the activity finishes, its result is recorded, the process exits 0', async () => {
    const taskQueue = uniqueTaskQueue('sigterm');
    const metricsPort = await freeLoopbackPort();
    const { address, namespace } = testServer();
    proc = spawnWatched(
      process.execPath,
      ['--import', 'tsx', SLOW_WORKER],
      {
        ...process.env,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        FIXTURE_TASK_QUEUE: taskQueue,
        FIXTURE_METRICS_PORT: String(metricsPort),
      },
      REPO_ROOT,
    );
    await proc.waitFor(/"msg":"worker started"/);

    const { client, connection } = await connectTestClient();
    try {
      const handle = await client.workflow.start(fixtureSlowActivity, {
        taskQueue,
        workflowId: `sigterm-${taskQueue}`,
        args: [{ ms: 3_000 }],
      });
      await proc.waitFor(/"msg":"activity started"/);

      // Mid-activity, Lifeboat's /metrics shows it in flight next to the SDK's own figures.
      const mid = await scrape(`127.0.0.1:${metricsPort}`);
      expect(mid).toContain(`lifeboat_activities_in_flight{queue="${taskQueue}"} 1`);
      expect(mid).toMatch(/^temporal_num_pollers\{/m);

      proc.child.kill('SIGTERM');
      const exit = await proc.exited;
      expect(exit, proc.output()).toEqual({ code: 0, signal: null });
      const out = proc.output();
      expect(out).toContain('"signal":"SIGTERM"');
      expect(out).toMatch(/"activity":"slowStep".*"msg":"activity completed"/);
      expect(out).toContain('"msg":"worker stopped"');

      // The server recorded the activity's result, so the workflow goes on with any new worker.
      const history = await handle.fetchHistory();
      const completed = (history.events ?? []).filter((e) => e.activityTaskCompletedEventAttributes);
      expect(completed).toHaveLength(1);
      const result = await withWorker(
        { taskQueue, workflowsPath: FIXTURE_WORKFLOWS, activities: createFixtureActivities() },
        () => handle.result(),
      );
      expect(result.label).toBe('slow');
      expect(result.sleptMs).toBeGreaterThanOrEqual(3_000);
    } finally {
      await connection.close();
    }
  });
});
