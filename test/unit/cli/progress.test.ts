import { describe, expect, it } from 'vitest';
import {
  approveCommand,
  formatElapsed,
  pauseCommands,
  progressEvents,
  renderOutcome,
  renderProgress,
} from '../../../cli/progress.ts';
import type { GateView, OperationProgress, PauseView } from '../../../workflows/types.ts';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const gate: GateView = {
  workflowId: 'runbook/pay/drill/1',
  stepId: 'web/before/0',
  group: 'web',
  role: 'ic',
  prompt: 'Bring web back?',
  approvers: ['alice'],
  openedAt: T0 + 5_000,
  expiresAt: T0 + 605_000,
};
const pause: PauseView = {
  workflowId: 'runbook/pay/drill/1',
  group: 'database',
  error: 'startVm db-1: injected failure',
  since: T0 + 8_000,
  stepId: 'pause:database/1',
  roles: ['dba'],
  deciders: ['carol'],
};

function snapshot(over: Partial<OperationProgress> = {}): OperationProgress {
  return {
    id: 'runbook/pay/drill/1',
    kind: 'drill',
    runbook: 'pay',
    planHash: 'h',
    state: 'running',
    wave: 0,
    waves: 2,
    startedAt: T0,
    groups: {
      database: { name: 'database', wave: 0, state: 'pending', vms: {} },
      web: { name: 'web', wave: 1, state: 'pending', vms: {} },
    },
    gates: [],
    pauses: [],
    decisions: [],
    compensations: { pending: 0, done: 0 },
    ...over,
  };
}

/** `s` with database running and db-1 at `state` of startVm. */
function dbAt(s: OperationProgress, state: 'running' | 'done' | 'failed', end?: number): OperationProgress {
  const next = structuredClone(s);
  next.groups.database = {
    ...next.groups.database!,
    state: 'running',
    step: 'vms',
    startedAt: T0 + 1_000,
    vms: { 'db-1': { action: 'startVm', state, startedAt: T0 + 1_000, endedAt: end } },
  };
  return next;
}

describe('formatElapsed', () => {
  it.each([
    [0, '0.0s'],
    [449, '0.4s'],
    [12_345, '12.3s'],
    [59_999, '59.9s'],
    [60_000, '1m00s'],
    [125_000, '2m05s'],
    [3_720_000, '1h02m'],
    [-5, '0.0s'],
    [Number.NaN, '0.0s'],
  ])('%d ms is %s', (ms, text) => expect(formatElapsed(ms)).toBe(text));
});

describe('commands shown to the operator', () => {
  it('names the gate step and the paused group exactly', () => {
    expect(approveCommand('pay', gate)).toBe('lifeboat approve pay --step web/before/0 --reason "..."');
    expect(pauseCommands('pay', pause)).toEqual([
      'lifeboat retry pay --group database --reason "..."',
      'lifeboat skip pay --group database --reason "..."',
      'lifeboat rollback pay --group database --reason "..."',
    ]);
  });
});

describe('renderProgress', () => {
  it('shows waves, groups and VMs with state and elapsed time', () => {
    const lines = renderProgress(dbAt(snapshot(), 'running'), T0 + 3_500);
    expect(lines).toEqual([
      'drill runbook/pay/drill/1  running  wave 1/2  3.5s',
      'wave 1',
      '  database  running  step vms  2.5s',
      '    db-1  startVm  running  2.5s',
      'wave 2',
      '  web  pending',
    ]);
  });

  it('shows gates with who may approve and the approve command, pauses with the decide commands', () => {
    const s = snapshot({ state: 'paused', gates: [gate], pauses: [pause] });
    s.groups.database = { ...s.groups.database!, state: 'paused', error: pause.error };
    const lines = renderProgress(s, T0 + 20_000);
    expect(lines).toContain('  database  paused');
    expect(lines).toContain('Gates waiting:');
    expect(lines).toContain('  web/before/0  Bring web back?  role ic (alice)  expires in 9m45s');
    expect(lines).toContain('    lifeboat approve pay --step web/before/0 --reason "..."');
    expect(lines).toContain('Groups paused:');
    expect(lines).toContain('  database  paused 12.0s ago  deciders: carol');
    expect(lines).toContain('    error: startVm db-1: injected failure');
    expect(lines).toContain('    lifeboat skip pay --group database --reason "..."');
    // The error shows once, under the pause, not again under the group.
    expect(lines.filter((l) => l.includes('injected failure'))).toHaveLength(1);
  });

  it('says when nobody may decide, and shows the undo while rolling back', () => {
    const s = snapshot({
      state: 'rolling-back',
      pauses: [{ ...pause, deciders: [] }],
      compensations: { pending: 4, done: 1 },
    });
    const lines = renderProgress(s, T0 + 9_000);
    expect(lines).toContain('  database  paused 1.0s ago  deciders: nobody holds the role');
    expect(lines.at(-1)).toBe('undo: 1/4 done');
  });

  it('shows a failed group its error, with the group end time', () => {
    const s = dbAt(snapshot(), 'failed', T0 + 4_000);
    s.groups.database = { ...s.groups.database!, state: 'failed', endedAt: T0 + 4_000, error: 'boom' };
    const lines = renderProgress(s, T0 + 10_000);
    expect(lines).toContain('  database  failed  3.0s');
    expect(lines).toContain('    error: boom');
  });
});

describe('progressEvents', () => {
  it('the first snapshot reports the state and wave; pending groups say nothing', () => {
    expect(progressEvents(undefined, snapshot(), T0 + 100)).toEqual([
      '0.1s drill runbook/pay/drill/1 running',
      '0.1s wave 1/2',
    ]);
  });

  it('nothing changed: no lines', () => {
    const s = dbAt(snapshot(), 'running');
    expect(progressEvents(s, structuredClone(s), T0 + 5_000)).toEqual([]);
  });

  it('a group starting, a VM action and its end, one line each', () => {
    const a = snapshot();
    const b = dbAt(a, 'running');
    expect(progressEvents(a, b, T0 + 1_200)).toEqual([
      '1.2s database running',
      '1.2s database step vms',
      '1.2s database db-1 startVm running',
    ]);
    const c = dbAt(a, 'done', T0 + 12_300);
    expect(progressEvents(b, c, T0 + 12_300)).toEqual(['12.3s database db-1 startVm done (11.3s)']);
  });

  it('a group ending says how long it took and why it failed', () => {
    const a = dbAt(snapshot(), 'failed', T0 + 3_000);
    const b = structuredClone(a);
    b.groups.database = { ...b.groups.database!, state: 'continued', endedAt: T0 + 3_000, error: 'boom' };
    expect(progressEvents(a, b, T0 + 3_000)).toEqual(['3.0s database continued (2.0s): boom']);
  });

  it('a new gate, a new pause and new decisions, with the commands to act on them', () => {
    const a = snapshot();
    const b = snapshot({ state: 'paused', gates: [gate], pauses: [pause], wave: 1 });
    expect(progressEvents(a, b, T0 + 9_000)).toEqual([
      '9.0s drill runbook/pay/drill/1 paused',
      '9.0s wave 2/2',
      '9.0s gate web/before/0 waits for ic (alice): lifeboat approve pay --step web/before/0 --reason "..."',
      '9.0s database paused: startVm db-1: injected failure',
      '9.0s database deciders: carol; lifeboat retry|skip|rollback pay --group database --reason "..."',
    ]);
    const decided = {
      stepId: 'pause:database/1',
      group: 'database',
      decision: 'retry' as const,
      operator: 'carol',
      role: 'dba',
      reason: 'disk back',
      signedAt: '',
      recordedAt: '',
      signature: 'sig-1',
    };
    const c = { ...b, pauses: [], decisions: [decided] };
    expect(progressEvents(b, c, T0 + 10_000)).toEqual([
      '10.0s pause:database/1 retry by carol (dba): disk back',
    ]);
    // The same gate and decision seen again are not repeated.
    expect(progressEvents(c, structuredClone(c), T0 + 11_000)).toEqual([]);
  });

  it('counts the undo as it runs', () => {
    const a = snapshot({ state: 'rolling-back', compensations: { pending: 3, done: 0 } });
    const b = snapshot({ state: 'rolling-back', compensations: { pending: 3, done: 2 } });
    expect(progressEvents(a, b, T0 + 30_000)).toEqual(['30.0s undo 2/3 done']);
  });
});

describe('renderOutcome', () => {
  const base = { id: 'runbook/pay/drill/1', kind: 'drill' as const, groups: {}, decisions: [] };

  it('is the outcome line as before when the result carries nothing more', () => {
    expect(renderOutcome({ ...base, outcome: 'succeeded' })).toEqual(['runbook/pay/drill/1: succeeded']);
    expect(renderOutcome({ ...base, outcome: 'rolled-back', error: 'd: boom' })).toEqual([
      'runbook/pay/drill/1: rolled-back (d: boom)',
    ]);
  });

  it('adds the verdict, the objectives and the evidence path when present', () => {
    const result = {
      ...base,
      outcome: 'succeeded' as const,
      verdict: 'fail' as const,
      rto: { targetMs: 1_800_000, measuredMs: 95_000, pass: true },
      rpo: { targetMs: 300_000, pass: false },
      evidencePath: '/var/lib/lifeboat/evidence/pay-drill-1.json',
    };
    expect(renderOutcome(result)).toEqual([
      'runbook/pay/drill/1: succeeded',
      'verdict: FAIL',
      'RTO: 1m35s (target 30m00s): pass',
      'RPO: not measured (target 5m00s): fail',
      'evidence: /var/lib/lifeboat/evidence/pay-drill-1.json',
    ]);
  });
});
