/** The defaults a runbook may leave out; compile resolves them, check reasons with them. */
import type { OperationKind } from './plan.ts';

export const DEFAULTS = {
  approvalWithin: '30m',
  runWithin: '5m',
  runOn: 'secondary',
  checkWithin: { agent: '2m', tcp: '2m', http: '2m', serial: '5m', data: '10m' },
  httpPath: '/',
  httpExpect: 200,
  onFailure: 'pause',
  consistency: 'crash',
  retentionPoints: 24,
  drillNetwork: 'bubble',
  failoverNetwork: 'production',
  onCommitTimeout: 'rollback',
} as const;

/** A `run` hook leaves out drills unless it says so: a drill never runs a production hook by accident. */
export function defaultStepIn(kind: 'approval' | 'run' | 'wait'): OperationKind[] {
  return kind === 'run' ? ['failover', 'failback'] : ['drill', 'failover', 'failback'];
}
