import { describe, expect, it } from 'vitest';
import type { PlanGroup } from '../../../runbooks/plan.ts';
import { stepsFor, vmActionsFor } from '../../../workflows/vm-actions.ts';

const group: PlanGroup = {
  name: 'db',
  wave: 0,
  dependsOn: [],
  vms: [
    { name: 'pg-1', group: 'db' },
    { name: 'pg-2', group: 'db' },
  ],
  checks: [],
  before: [],
  after: [],
  onFailure: 'rollback',
};

const brief = (op: 'drill' | 'failover' | 'failback') =>
  vmActionsFor(op, group, { drillNetwork: 'bubble' }).map(({ vm, actions }) => ({
    vm,
    actions: actions.map(
      (a) =>
        `${a.action}@${a.site}${a.boot ? '+boot' : ''} undo ${a.undo ? `${a.undo.action}@${a.undo.site}` : '-'}`,
    ),
  }));

describe('vmActionsFor', () => {
  it('drill: prepare and boot on the secondary, on the bubble network; never touches the primary', () => {
    expect(brief('drill')).toEqual([
      {
        vm: 'pg-1',
        actions: [
          'prepareVm@secondary undo teardownVm@secondary',
          'startVm@secondary+boot undo stopVm@secondary',
        ],
      },
      {
        vm: 'pg-2',
        actions: [
          'prepareVm@secondary undo teardownVm@secondary',
          'startVm@secondary+boot undo stopVm@secondary',
        ],
      },
    ]);
    for (const { actions } of vmActionsFor('drill', group, { drillNetwork: 'bubble' })) {
      for (const a of actions) {
        expect(a.site).toBe('secondary');
        expect(a.network).toBe('bubble');
      }
    }
  });

  it('failover: fence the primary (best effort) before booting on the secondary production network', () => {
    const [first] = vmActionsFor('failover', group);
    expect(first?.actions.map((a) => [a.action, a.site, a.network ?? '', Boolean(a.bestEffort)])).toEqual([
      ['stopVm', 'primary', '', true],
      ['prepareVm', 'secondary', 'production', false],
      ['startVm', 'secondary', 'production', false],
    ]);
    expect(first?.actions[0]?.undo).toMatchObject({ action: 'startVm', site: 'primary', boot: true });
  });

  it('failback mirrors failover', () => {
    expect(brief('failback')[0]?.actions).toEqual([
      'stopVm@secondary undo startVm@secondary',
      'prepareVm@primary undo teardownVm@primary',
      'startVm@primary+boot undo stopVm@primary',
    ]);
  });

  it('every boot is marked for the site limit, and only boots are', () => {
    for (const op of ['drill', 'failover', 'failback'] as const) {
      for (const { actions } of vmActionsFor(op, group)) {
        for (const a of actions) expect(Boolean(a.boot)).toBe(a.action === 'startVm');
      }
    }
  });

  it('keeps the group VM order', () => {
    expect(vmActionsFor('failover', group).map((x) => x.vm)).toEqual(['pg-1', 'pg-2']);
  });
});

describe('stepsFor', () => {
  it('keeps the steps whose `in` names the operation, in order', () => {
    const steps = [
      { id: 's0', in: ['drill' as const] },
      { id: 's1', in: ['failover' as const, 'failback' as const] },
      { id: 's2', in: ['drill' as const, 'failover' as const] },
    ];
    expect(stepsFor('drill', steps).map((s) => s.id)).toEqual(['s0', 's2']);
    expect(stepsFor('failback', steps).map((s) => s.id)).toEqual(['s1']);
  });
});
