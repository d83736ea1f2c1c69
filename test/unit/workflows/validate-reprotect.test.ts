import { describe, expect, it } from 'vitest';
import { renderReprotect } from '../../../cli/commands/reprotect.ts';
import { admitOperation } from '../../../workflows/admission.ts';
import { validateDivergentInput } from '../../../workflows/validate-divergent.ts';
import { validateReprotectInput } from '../../../workflows/validate-reprotect.ts';
import { guardedInputs } from '../../support/guarded-inputs.ts';
import { diamondPlan } from '../../support/plans.ts';

const plan = diamondPlan();
const { controllerId, operationId } = guardedInputs(plan);
const id = `runbook/${plan.runbook.name}/reprotect/1`;
const input = { id, plan, controllerId, requestedBy: 'sre' };

describe('validateReprotectInput', () => {
  it('accepts a reprotect started by its controller', () => {
    expect(validateReprotectInput(input, controllerId)).toEqual([]);
  });

  it('refuses one started by anything else, under another id or with a tampered plan', () => {
    expect(validateReprotectInput(input, undefined).join()).toContain('not by the controller');
    expect(validateReprotectInput({ ...input, id: operationId }, controllerId).join()).toContain(
      'with kind reprotect',
    );
    expect(validateReprotectInput({ ...input, id: 'runbook/x/reprotect/1' }, controllerId)).toEqual([
      `id runbook/x/reprotect/1 is not an id of runbook ${plan.runbook.name}`,
    ]);
    expect(validateReprotectInput({ ...input, plan: { ...plan, hash: 'x' } }, controllerId).join()).toContain(
      'hash',
    );
    expect(validateReprotectInput('nope', controllerId)).toEqual(['input is not an object']);
  });
});

describe('reprotect admission', () => {
  it('runs only after a committed failover, and alone', () => {
    expect(admitOperation('failed-over-committed', [], 'reprotect').ok).toBe(true);
    for (const phase of ['normal', 'failed-over-uncommitted', 'failed-back'] as const)
      expect(admitOperation(phase, [], 'reprotect')).toMatchObject({ ok: false, code: 'STATE' });
    const running = { id: 'runbook/x/reprotect/1', kind: 'reprotect' as const, startedAt: '' };
    expect(admitOperation('failed-over-committed', [running], 'failback')).toMatchObject({
      ok: false,
      code: 'CONFLICT',
    });
  });
});

describe('renderReprotect', () => {
  it('says the direction, what travelled and where divergent blocks are kept', () => {
    const text = renderReprotect({
      id,
      outcome: 'succeeded',
      from: 'secondary',
      to: 'primary',
      vms: [
        {
          vm: 'db-1',
          pointId: 'p-3',
          deltaBytes: 2 * 1024 * 1024,
          overlayBytes: 1024 * 1024,
          divergentBytes: 1024 * 1024,
          sideDir: '/s/divergent/x/db-1/op',
          bytesReceived: 2 * 1024 * 1024 + 600,
          bytesSent: 2 * 1024 * 1024 + 600,
          resumes: 0,
          snapshot: 'backup',
          since: 'lb-reverse-op-2',
          reversePoint: {
            seq: 3,
            key: 'k3',
            undoBytes: 1024 * 1024,
            kept: 2,
            dropped: ['runbook/x/reprotect/1'],
          },
        },
        {
          vm: 'web-1',
          pointId: null,
          fullReason: 'no common point',
          deltaBytes: 1,
          overlayBytes: 0,
          divergentBytes: 0,
          bytesReceived: 1,
          bytesSent: null,
          resumes: 0,
          snapshot: 'stopped',
          sinceFailover: 'no earlier reverse cycle recorded at this site',
          reversePoint: {
            seq: 1,
            key: 'k1',
            undoBytes: 0,
            kept: 1,
            dropped: [],
            restartedBecause: 'they were from point p-2, this cycle from null',
          },
        },
      ],
      reverseSchedule: { id: 'protect/x/reverse', action: 'created' },
    });
    expect(text).toContain('protection now runs from secondary toward primary');
    expect(text).toContain('db-1: from point p-3: 2.00 MiB of changed blocks');
    expect(text).toContain('kept in /s/divergent/x/db-1/op');
    expect(text).toContain('full copy: no common point');
    expect(text).toContain('1.00 MiB written at secondary since the last reverse cycle (lb-reverse-op-2)');
    expect(text).toContain('reverse cycles: protect/x/reverse created');
    expect(text).not.toContain('everything since failover:');
    expect(text).toContain(
      'reverse point 3 at primary, 2 kept (1.00 MiB kept to return to the one before); retention dropped runbook/x/reprotect/1',
    );
    expect(text).toContain('reverse point 1 at primary, 1 kept\n');
    expect(text).toContain('earlier reverse points dropped: they were from point p-2');
    const unprotected = renderReprotect({
      id,
      outcome: 'succeeded',
      from: 'secondary',
      to: 'primary',
      vms: [],
      reverseSchedule: { why: 'x is not protected' },
    });
    expect(unprotected).toContain('reverse cycles not scheduled: x is not protected');
  });
});

describe('validateDivergentInput', () => {
  it('lists without a reason, discards only with one and who asked', () => {
    expect(validateDivergentInput({ runbook: 'rb', site: 'primary' })).toEqual([]);
    expect(
      validateDivergentInput({ runbook: 'rb', site: 'primary', discard: { by: 'sre', reason: 'checked' } }),
    ).toEqual([]);
    expect(
      validateDivergentInput({ runbook: 'rb', site: 'primary', discard: { by: 'sre', reason: ' ' } }),
    ).toEqual(['discard.reason is required']);
    expect(validateDivergentInput({ runbook: 'rb', site: 'primary', discard: { reason: 'x' } })).toEqual([
      'discard.by is required',
    ]);
    expect(validateDivergentInput({ site: 'primary' })).toEqual(['runbook is missing']);
    expect(validateDivergentInput(null)).toEqual(['input is not an object']);
  });
});
