import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';
import { siteTaskQueue } from '../../../platform/names.ts';
import { fixtureSiteTimeout } from '../../fixtures/platform/workflows/index.ts';
import { connectTestClient, uniqueTaskQueue, withWorker } from '../../support/temporal.ts';

const FIXTURE_WORKFLOWS = path.join(REPO_ROOT, 'test', 'fixtures', 'platform', 'workflows', 'index.ts');

describe('site queues', () => {
  test('an activity on a site queue with no worker fails with a schedule-to-start timeout', async () => {
    const taskQueue = uniqueTaskQueue('orch');
    const site = uniqueTaskQueue('dead-site');
    const { client, connection } = await connectTestClient();
    try {
      const result = await withWorker({ taskQueue, workflowsPath: FIXTURE_WORKFLOWS }, () =>
        client.workflow.execute(fixtureSiteTimeout, {
          taskQueue,
          workflowId: `site-timeout-${site}`,
          args: [{ site, scheduleToStartMs: 2_000 }],
        }),
      );
      expect(result).toMatchObject({ queue: siteTaskQueue(site), failed: true });
      expect(result.timeoutType).toBe('SCHEDULE_TO_START');

      // The activity was scheduled on the site's queue and never started anywhere else.
      const history = await client.workflow.getHandle(`site-timeout-${site}`).fetchHistory();
      const scheduled = (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes ?? []);
      expect(scheduled.map((a) => a.taskQueue?.name)).toEqual([siteTaskQueue(site)]);
      expect((history.events ?? []).some((e) => e.activityTaskStartedEventAttributes)).toBe(false);
      expect((history.events ?? []).some((e) => e.activityTaskTimedOutEventAttributes)).toBe(true);
    } finally {
      await connection.close();
    }
  });
});
