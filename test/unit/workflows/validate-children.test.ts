import { describe, expect, it } from 'vitest';
import { validateCompensationInput, validateGroupInput } from '../../../workflows/validate-children.ts';
import { guardedInputs, itRefusesGarbage } from '../../support/guarded-inputs.ts';
import { diamondPlan } from '../../support/plans.ts';

const { controllerId, operationId, cycleId, group, compensation } = guardedInputs(diamondPlan());

describe('validateGroupInput', () => {
  it('accepts a group started by the operation it names', () => {
    expect(validateGroupInput(group, operationId)).toEqual([]);
  });

  it('refuses a group not started by its operation', () => {
    expect(validateGroupInput(group, undefined)).toEqual([
      `started by a client, not by its operation ${operationId}`,
    ]);
    expect(validateGroupInput(group, controllerId).join()).toContain(`started by ${controllerId}`);
    const elsewhere = `${controllerId}/drill/8`;
    expect(validateGroupInput({ ...group, operationId: elsewhere }, operationId)).toEqual([
      `started by ${operationId}, not by its operation ${elsewhere}`,
      `parentId ${operationId} is not operationId ${elsewhere}`,
    ]);
  });

  it('refuses an operation id that is not a drill, failover or failback', () => {
    for (const bad of [cycleId, controllerId, 'drill-7', `${operationId}/group/a`]) {
      const errors = validateGroupInput({ ...group, operationId: bad, parentId: bad }, bad);
      expect(errors.join()).toContain(`operationId ${bad} is not runbook/<name>/<kind>/<n>`);
    }
  });

  it("refuses a kind other than its operation's, a malformed group and a bad boot share", () => {
    expect(validateGroupInput({ ...group, kind: 'failover' }, operationId)).toEqual([
      `kind failover is not the kind of ${operationId}`,
    ]);
    const broken = { ...group.group, onFailure: 'explode', vms: 'x' };
    expect(validateGroupInput({ ...group, group: broken }, operationId)).toEqual([
      `group ${group.group.name}: vms malformed`,
      `group ${group.group.name}: onFailure explode unknown`,
    ]);
    for (const bootConcurrency of [0, 1.5, '2', undefined]) {
      expect(validateGroupInput({ ...group, bootConcurrency }, operationId).join()).toContain(
        'bootConcurrency',
      );
    }
    expect(validateGroupInput({ ...group, sites: {} }, operationId)).toEqual([
      'sites needs primary and secondary',
    ]);
  });

  itRefusesGarbage(validateGroupInput, operationId);
});

describe('validateCompensationInput', () => {
  it('accepts a rollback chunk started by the operation it names', () => {
    expect(validateCompensationInput(compensation, operationId)).toEqual([]);
    expect(validateCompensationInput({ operationId, stack: [] }, operationId)).toEqual([]);
  });

  it('refuses a chunk not started by its operation', () => {
    expect(validateCompensationInput(compensation, undefined)).toEqual([
      `started by a client, not by its operation ${operationId}`,
    ]);
    expect(validateCompensationInput({ ...compensation, operationId: cycleId }, cycleId).join()).toContain(
      `operationId ${cycleId} is not`,
    );
  });

  it('names each malformed undo', () => {
    const [undo] = compensation.stack;
    const stack = [undo, { ...undo, action: 'explode', vm: '' }, 'x', { ...undo, network: 7 }];
    expect(validateCompensationInput({ operationId, stack }, operationId)).toEqual([
      'stack[1].vm is missing',
      'stack[1].action explode is not one of prepareVm, startVm, stopVm, teardownVm',
      'stack[2] is not an object',
      'stack[3].network is not a name',
    ]);
  });

  itRefusesGarbage(validateCompensationInput, operationId);
});
