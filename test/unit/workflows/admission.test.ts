import { describe, expect, it } from 'vitest';
import { ALLOWED_PHASES, admitOperation, COMPATIBLE } from '../../../workflows/admission.ts';
import type { ControllerOpKind, OperationRef, RunbookPhase } from '../../../workflows/types.ts';

const KINDS: ControllerOpKind[] = ['replication', 'drill', 'failover', 'failback', 'reprotect'];
const PHASES: RunbookPhase[] = [
  'normal',
  'failed-over-uncommitted',
  'failed-over-committed',
  'reprotecting',
  'failed-back',
];
const ref = (kind: ControllerOpKind, n = 1): OperationRef => ({
  id: `runbook/r/${kind}/${n}`,
  kind,
  startedAt: 't',
});

describe('admitOperation', () => {
  it('with nothing in flight, admits exactly the kinds allowed in each phase', () => {
    for (const phase of PHASES) {
      for (const kind of KINDS) {
        const a = admitOperation(phase, [], kind);
        expect(a.ok, `${kind} in ${phase}`).toBe(ALLOWED_PHASES[kind].includes(phase));
        if (!a.ok) expect(a.code).toBe('STATE');
      }
    }
  });

  it('beside each running kind, follows the table; refusals name the running operation', () => {
    for (const running of KINDS) {
      for (const requested of KINDS) {
        // A phase in which `requested` may start at all, so only the conflict decides.
        const phase = ALLOWED_PHASES[requested][0] as RunbookPhase;
        const a = admitOperation(phase, [ref(running)], requested);
        const preempts = (requested === 'failover' || requested === 'failback') && running === 'replication';
        const expected = COMPATIBLE[running][requested] || preempts;
        expect(a.ok, `${requested} beside ${running}`).toBe(expected);
        if (a.ok) expect(a.preempt).toEqual(preempts ? [ref(running)] : []);
        else {
          expect(a.code).toBe('CONFLICT');
          expect(a.conflictsWith).toEqual(ref(running));
          expect(a.message).toContain(ref(running).id);
        }
      }
    }
  });

  it('states the rules of the issue', () => {
    expect(admitOperation('normal', [ref('replication')], 'drill')).toEqual({ ok: true, preempt: [] });
    expect(admitOperation('normal', [ref('drill')], 'drill').ok).toBe(false);
    for (const k of KINDS) expect(COMPATIBLE.failover[k]).toBe(false);
    expect(admitOperation('normal', [ref('replication'), ref('drill')], 'failover')).toMatchObject({
      ok: false,
      conflictsWith: ref('drill'),
    });
  });

  it('a second replication cycle or any kind twice is refused', () => {
    for (const k of KINDS) expect(COMPATIBLE[k][k]).toBe(false);
  });
});
