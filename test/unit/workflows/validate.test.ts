import { describe, expect, it } from 'vitest';
import { validateOperationInput } from '../../../workflows/validate.ts';
import { diamondPlan, rehash } from '../../support/plans.ts';

const plan = diamondPlan();
const controller = `runbook/${plan.runbook.name}`;
const input = { id: `${controller}/drill/1`, kind: 'drill', plan, controllerId: controller };

describe('validateOperationInput', () => {
  it('accepts a compiled plan started by its controller', () => {
    expect(validateOperationInput(input, controller)).toEqual([]);
  });

  it('refuses an operation not started by the controller', () => {
    expect(validateOperationInput(input, undefined).join()).toContain('not by the controller');
    expect(validateOperationInput(input, 'runbook/other').join()).toContain('not by the controller');
  });

  it('refuses garbage without throwing', () => {
    for (const bad of [
      null,
      42,
      'x',
      [],
      {},
      { plan: null },
      { plan: { version: 1 } },
      { ...input, plan: { ...plan, groups: 'x' } },
    ]) {
      expect(() => validateOperationInput(bad, controller)).not.toThrow();
      expect(validateOperationInput(bad, controller).length).toBeGreaterThan(0);
    }
  });

  it('refuses an unknown kind, a wrong version and a tampered plan', () => {
    expect(validateOperationInput({ ...input, kind: 'explode' }, controller).join()).toContain(
      'kind explode',
    );
    expect(validateOperationInput({ ...input, plan: { ...plan, version: 2 } }, controller).join()).toContain(
      'version',
    );
    const tampered = { ...plan, groups: plan.groups.map((g) => ({ ...g, onFailure: 'continue' as const })) };
    expect(validateOperationInput({ ...input, plan: tampered }, controller)).toEqual([
      'plan hash does not match its content',
    ]);
    expect(validateOperationInput({ ...input, plan: rehash(tampered) }, controller)).toEqual([]);
  });

  it('refuses waves that name unknown groups or leave a group out', () => {
    const waves = [['a'], ['b', 'c', 'ghost']];
    const errors = validateOperationInput({ ...input, plan: rehash({ ...plan, waves }) }, controller);
    expect(errors).toContain('wave names unknown group ghost');
    expect(errors).toContain('group d is in no wave');
  });
});
