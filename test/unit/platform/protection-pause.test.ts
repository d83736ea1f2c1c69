import { describe, expect, it } from 'vitest';
import { pausedBy } from '../../../platform/protection.ts';

describe('pausedBy', () => {
  const note = 'paused by runbook/web/failover/4: a failover owns the runbook';
  it('lets a resume lift the pauses the named operation, or any operation under a prefix, made', () => {
    expect(pausedBy(note, 'runbook/web/failover/4')).toBe(true);
    expect(pausedBy(note, 'runbook/web/failover/')).toBe(true);
  });
  it("leaves an operator's pause, another operation's and another runbook's alone", () => {
    expect(pausedBy('operator: storage maintenance', 'runbook/web/failover/')).toBe(false);
    expect(pausedBy(undefined, 'runbook/web/failover/')).toBe(false);
    expect(pausedBy(note, 'runbook/web/failover/40')).toBe(false);
    expect(pausedBy('paused by runbook/web/failover/40: x', 'runbook/web/failover/4')).toBe(false);
    expect(pausedBy(note, 'runbook/db/failover/')).toBe(false);
  });
});
