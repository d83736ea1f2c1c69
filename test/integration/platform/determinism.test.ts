import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { afterAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';
import { createFixtureActivities } from '../../fixtures/platform/activities.ts';
import { fixtureGreeting } from '../../fixtures/platform/workflows/index.ts';
import { loadHistories, replayHistories, saveHistory } from '../../support/histories.ts';
import { connectTestClient, uniqueTaskQueue, withWorker } from '../../support/temporal.ts';

const ORIGINAL = path.join(REPO_ROOT, 'test', 'fixtures', 'platform', 'workflows', 'index.ts');
const CHANGED = path.join(REPO_ROOT, 'test', 'fixtures', 'platform', 'workflows-changed', 'index.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-histories-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay harness', () => {
  test('a recorded history replays on its workflow and fails on a deliberately changed copy', async () => {
    const taskQueue = uniqueTaskQueue('replay');
    const workflowId = `greeting-${taskQueue}`;
    const { client, connection } = await connectTestClient();
    try {
      const result = await withWorker(
        { taskQueue, workflowsPath: ORIGINAL, activities: createFixtureActivities() },
        () =>
          client.workflow.execute(fixtureGreeting, { taskQueue, workflowId, args: [{ name: 'lifeboat' }] }),
      );
      expect(result).toBe('HELLO LIFEBOAT');
      const file = await saveHistory(client, workflowId, 'fixtureGreeting', 'basic', { dir, force: true });
      expect(file).toBe(path.join(dir, 'fixtureGreeting', 'basic.json'));
    } finally {
      await connection.close();
    }

    // The harness's own loader reads what the recorder wrote.
    const histories = loadHistories(dir);
    expect(histories.map((h) => `${h.workflowType}/${h.label}`)).toEqual(['fixtureGreeting/basic']);

    const same = await replayHistories(ORIGINAL, histories);
    expect(same.map((o) => o.error)).toEqual([undefined]);

    const changed = await replayHistories(CHANGED, histories);
    expect(changed).toHaveLength(1);
    expect(changed[0]!.error).toBeInstanceOf(DeterminismViolationError);
  });

  test('the recorder writes nothing unless LIFEBOAT_RECORD_HISTORIES=1', async () => {
    const before = process.env.LIFEBOAT_RECORD_HISTORIES;
    delete process.env.LIFEBOAT_RECORD_HISTORIES;
    const { client, connection } = await connectTestClient();
    try {
      expect(
        await saveHistory(client, 'does-not-matter', 'fixtureGreeting', 'skipped', { dir }),
      ).toBeUndefined();
      expect(loadHistories(dir).map((h) => h.label)).not.toContain('skipped');
    } finally {
      await connection.close();
      if (before !== undefined) process.env.LIFEBOAT_RECORD_HISTORIES = before;
    }
  });
});
