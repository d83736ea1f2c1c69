import { describe, expect, it } from 'vitest';
import { operationWorkflowId, parseOperationWorkflowId } from '../../../platform/names.ts';

describe('operation workflow ids', () => {
  it('round-trips the id the controller gives an operation', () => {
    expect(operationWorkflowId('diamond', 'drill', 3)).toBe('runbook/diamond/drill/3');
    expect(parseOperationWorkflowId('runbook/diamond/replication/12')).toEqual({
      runbook: 'diamond',
      kind: 'replication',
      n: 12,
    });
  });

  it('refuses anything else', () => {
    for (const id of [
      'runbook/diamond',
      'runbook/diamond/drill/0',
      'runbook/a/b/drill/1',
      'x/d/drill/1',
      '',
    ]) {
      expect(parseOperationWorkflowId(id)).toBeUndefined();
    }
  });
});
