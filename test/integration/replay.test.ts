import { describe, expect, test } from 'vitest';
import { WORKFLOWS_PATH } from '../../worker/workflows-path.ts';
import {
  exportedWorkflowTypes,
  HISTORIES_DIR,
  loadHistories,
  replayHistories,
} from '../support/histories.ts';

/**
 * Every workflow type the orchestrator registers has at least one recorded history in
 * test/histories/<WorkflowType>/, and every recorded history still replays on today's code:
 * a workflow change that would break running workflows fails here. Record with
 * LIFEBOAT_RECORD_HISTORIES=1 (see test/histories/README.md).
 */
describe('committed workflow histories', () => {
  test('every registered workflow type has a committed history', async () => {
    const types = await exportedWorkflowTypes(WORKFLOWS_PATH);
    const recorded = new Set(loadHistories().map((h) => h.workflowType));
    const missing = types.filter((t) => !recorded.has(t));
    expect(missing, `no history in ${HISTORIES_DIR} for: ${missing.join(', ')}`).toEqual([]);
  });

  test('every committed history replays on the current workflows', async () => {
    const histories = loadHistories();
    const types = new Set(await exportedWorkflowTypes(WORKFLOWS_PATH));
    const orphans = histories.filter((h) => !types.has(h.workflowType)).map((h) => h.file);
    expect(orphans, 'histories of workflow types that are no longer registered').toEqual([]);
    const failures = (await replayHistories(WORKFLOWS_PATH, histories))
      .filter((o) => o.error)
      .map((o) => `${o.file}: ${o.error?.name}: ${o.error?.message}`);
    expect(failures).toEqual([]);
  });
});
