import { describe, expect, test } from 'vitest';
import {
  type OperationRow,
  operationsQuery,
  renderOperations,
  summarizeProgress,
} from '../../../platform/operations.ts';

describe('operationsQuery', () => {
  test('in flight and finished operations, optionally of one runbook', () => {
    expect(operationsQuery({ running: true })).toBe(
      "LifeboatOperation IS NOT NULL AND ExecutionStatus = 'Running'",
    );
    expect(operationsQuery({ running: false, runbook: 'payments' })).toBe(
      "LifeboatOperation IS NOT NULL AND LifeboatRunbook = 'payments' AND ExecutionStatus != 'Running'",
    );
  });

  test('quotes in a runbook name cannot break out of the string', () => {
    expect(operationsQuery({ running: true, runbook: "a' OR 'x'='x" })).toContain(
      "LifeboatRunbook = 'a\\' OR \\'x\\'=\\'x'",
    );
  });
});

describe('summarizeProgress', () => {
  test('known fields, else compact JSON, absent as a dash', () => {
    expect(summarizeProgress(undefined)).toBe('-');
    expect(summarizeProgress({ phase: 'restore', done: 2, total: 5 })).toBe('restore 2/5');
    expect(summarizeProgress({ percent: 41.6 })).toBe('42%');
    // The shape of workflows/types.ts OperationProgress.
    expect(summarizeProgress({ id: 'op', state: 'running', wave: 1, waves: 3, gates: [{ name: 'g' }] })).toBe(
      'running wave 1/3 1 gate(s)',
    );
    expect(summarizeProgress('waiting')).toBe('waiting');
    expect(summarizeProgress({ other: 1 })).toBe('{"other":1}');
    expect(summarizeProgress({ long: 'x'.repeat(100) })).toHaveLength(60);
  });
});

describe('renderOperations', () => {
  const row: OperationRow = {
    workflowId: 'runbook/payments/drill-1',
    runId: 'r1',
    workflowType: 'operationWorkflow',
    runbook: 'payments',
    operation: 'drill',
    state: 'restoring',
    site: undefined,
    status: 'RUNNING',
    startTime: '2026-01-02T03:04:05.678Z',
    closeTime: undefined,
    progress: { phase: 'restore', done: 1, total: 3 },
  };

  test('a table per section, aligned', () => {
    const text = renderOperations({ inFlight: [row], recent: [] });
    const lines = text.split('\n');
    expect(lines[0]).toBe('In flight:');
    expect(lines[1]).toMatch(/^RUNBOOK\s+OPERATION\s+STATE\s+STATUS\s+STARTED\s+PROGRESS\s+WORKFLOW$/);
    expect(lines[2]).toMatch(
      /^payments\s+drill\s+restoring\s+running\s+2026-01-02 03:04:05\s+restore 1\/3\s+runbook\/payments\/drill-1$/,
    );
    expect(lines[1]!.indexOf('OPERATION')).toBe(lines[2]!.indexOf('drill'));
    expect(text).toContain('Recent: none');
  });

  test('nothing at all', () => {
    expect(renderOperations({ inFlight: [], recent: [] })).toBe('In flight: none\n\nRecent: none');
  });
});
