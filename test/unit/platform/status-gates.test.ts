import { describe, expect, it } from 'vitest';
import { type OperationRow, renderOperations, timeLeft, waitingGates } from '../../../platform/operations.ts';

const T0 = Date.parse('2026-11-25T10:01:00.000Z');

function row(progress: unknown, id = 'runbook/lab/failover/1'): OperationRow {
  return {
    workflowId: id,
    runId: 'r1',
    workflowType: 'operationWorkflow',
    runbook: 'lab',
    operation: 'failover',
    state: 'waiting-approval',
    site: undefined,
    status: 'RUNNING',
    startTime: '2026-11-25T10:00:00.000Z',
    closeTime: undefined,
    progress,
  };
}

// The shape of workflows/types.ts GateView, as the progress query returns it.
const gate = {
  workflowId: 'runbook/lab/failover/1/group/web',
  stepId: 'web/before/0',
  group: 'web',
  role: 'incident-commander',
  prompt: 'Open traffic to the web tier?',
  approvers: ['alice', 'bob'],
  openedAt: T0,
  expiresAt: T0 + 10 * 60_000,
};

describe('waitingGates', () => {
  it('lists each open gate with its operation, role and approvers', () => {
    expect(waitingGates([row({ state: 'waiting-approval', gates: [gate] })])).toEqual([
      {
        runbook: 'lab',
        operation: 'failover',
        operationWorkflowId: 'runbook/lab/failover/1',
        // The gate's own fields pass through as they are; its times become ISO strings.
        ...gate,
        openedAt: '2026-11-25T10:01:00.000Z',
        expiresAt: '2026-11-25T10:11:00.000Z',
      },
    ]);
  });

  it('oldest first across operations; other shapes and no progress are left out', () => {
    const later = { ...gate, stepId: 'app/before/0', openedAt: T0 + 1_000 };
    const gates = waitingGates([
      row({ gates: [later, { stepId: 3 }, null, 'x'] }, 'op-2'),
      row(undefined, 'op-3'),
      row({ phase: 'copying' }, 'op-4'),
      row({ gates: [{ ...gate, approvers: ['alice', 7], workflowId: undefined }] }, 'op-1'),
    ]);
    expect(gates.map((g) => [g.operationWorkflowId, g.workflowId, g.stepId, g.approvers])).toEqual([
      ['op-1', 'op-1', 'web/before/0', ['alice']],
      ['op-2', 'runbook/lab/failover/1/group/web', 'app/before/0', ['alice', 'bob']],
    ]);
  });
});

describe('timeLeft', () => {
  it('minutes, hours, or expired', () => {
    const at = '2026-11-25T10:11:00.000Z';
    expect(timeLeft(at, Date.parse('2026-11-25T10:01:00.000Z'))).toBe('in 10m');
    expect(timeLeft(at, Date.parse('2026-11-25T10:10:59.000Z'))).toBe('in 1m');
    expect(timeLeft(at, Date.parse('2026-11-25T08:06:00.000Z'))).toBe('in 2h05m');
    expect(timeLeft(at, Date.parse('2026-11-25T10:11:00.000Z'))).toBe('expired');
    expect(timeLeft('', 0)).toBe('-');
  });
});

describe('renderOperations with gates', () => {
  it('puts the waiting gates first, with who may approve and how', () => {
    const r = row({ state: 'waiting-approval', wave: 2, waves: 3, gates: [gate] });
    const text = renderOperations({ inFlight: [r], recent: [], gates: waitingGates([r]) }, T0 + 90_000);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Gates waiting:');
    expect(lines[1]).toMatch(/^RUNBOOK\s+OPERATION\s+STEP\s+ROLE\s+APPROVERS\s+EXPIRES\s+PROMPT$/);
    expect(lines[2]).toMatch(
      /^lab\s+failover\s+web\/before\/0\s+incident-commander\s+alice,bob\s+2026-11-25 10:11:00 \(in 9m\)\s+Open traffic to the web tier\?$/,
    );
    expect(lines[1]!.indexOf('APPROVERS')).toBe(lines[2]!.indexOf('alice'));
    expect(lines[3]).toBe(
      'Approve: lifeboat approve lab --step web/before/0 --reason "..." (as one of the approvers; reject likewise)',
    );
    expect(text).toContain('\n\nIn flight:\n');
  });

  it('a gate nobody may approve says so', () => {
    const r = row({ gates: [{ ...gate, approvers: [] }] });
    expect(renderOperations({ inFlight: [r], recent: [], gates: waitingGates([r]) }, T0)).toContain(
      '(nobody holds the role)',
    );
  });

  it('no gates: no gate section', () => {
    expect(renderOperations({ inFlight: [], recent: [], gates: [] })).toBe('In flight: none\n\nRecent: none');
  });
});
