import { describe, expect, it } from 'vitest';
import type { OperationRow } from '../../../platform/operations.ts';
import { renderOperations } from '../../../platform/operations.ts';
import { pausedGroups, timeAgo } from '../../../platform/pauses.ts';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const row = (progress: unknown): OperationRow => ({
  workflowId: 'runbook/pay/drill/1',
  runId: 'r',
  workflowType: 'operationWorkflow',
  runbook: 'pay',
  operation: 'drill',
  state: 'paused',
  site: undefined,
  status: 'RUNNING',
  startTime: new Date(T0).toISOString(),
  closeTime: undefined,
  progress,
});
const pause = {
  workflowId: 'runbook/pay/drill/1/group/db',
  group: 'db',
  error: 'startVm db-1: boom',
  since: T0 + 5_000,
  stepId: 'pause:db/1',
  roles: ['dba'],
  deciders: ['carol'],
};

describe('paused groups in lifeboat status', () => {
  it('lists each pause with its error, since when and who may decide; odd shapes are left out', () => {
    const rows = [row({ pauses: [pause, { nope: 1 }, null] }), row(undefined), row({ pauses: 'x' })];
    expect(pausedGroups(rows)).toEqual([
      {
        runbook: 'pay',
        operation: 'drill',
        operationWorkflowId: 'runbook/pay/drill/1',
        workflowId: 'runbook/pay/drill/1/group/db',
        group: 'db',
        stepId: 'pause:db/1',
        error: 'startVm db-1: boom',
        since: '2026-01-01T12:00:05.000Z',
        roles: ['dba'],
        deciders: ['carol'],
      },
    ]);
  });

  it('renders them first, with the commands that decide them', () => {
    const rows = [row({ state: 'paused', pauses: [pause] })];
    const text = renderOperations({ inFlight: rows, recent: [], pauses: pausedGroups(rows) }, T0 + 65_000);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Groups paused:');
    expect(lines[1]).toMatch(/^RUNBOOK\s+OPERATION\s+GROUP\s+SINCE\s+DECIDERS\s+ERROR$/);
    expect(lines[2]).toMatch(
      /^pay\s+drill\s+db\s+2026-01-01 12:00:05 \(1m ago\)\s+carol\s+startVm db-1: boom$/,
    );
    expect(lines[3]).toBe(
      'Decide: lifeboat retry|skip|rollback pay --group db --reason "..." (as one of the deciders)',
    );
    expect(text).toContain('paused 1 paused');
  });

  it('says when nobody holds a deciding role', () => {
    const rows = [row({ pauses: [{ ...pause, deciders: [] }] })];
    const text = renderOperations({ inFlight: rows, recent: [], pauses: pausedGroups(rows) }, T0);
    expect(text).toContain('(nobody holds dba)');
  });

  it.each([
    [0, '0s'],
    [59_000, '59s'],
    [61_000, '1m'],
    [3_780_000, '1h03m'],
  ])('timeAgo %d ms', (ms, text) => expect(timeAgo(new Date(T0).toISOString(), T0 + ms)).toBe(text));
});
