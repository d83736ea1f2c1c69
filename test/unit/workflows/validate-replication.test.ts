import { describe, expect, it } from 'vitest';
import type { Consistency } from '../../../runbooks/plan.ts';
import {
  validateReplicationCycleInput,
  validateReplicationVmInput,
} from '../../../workflows/validate-replication.ts';
import { guardedInputs, itRefusesGarbage } from '../../support/guarded-inputs.ts';
import { diamondPlan, rehash } from '../../support/plans.ts';

const plan = diamondPlan();
const { controllerId, operationId, cycleId, cycle, vm } = guardedInputs(plan);

describe('validateReplicationCycleInput', () => {
  it('accepts a cycle started by its controller', () => {
    expect(validateReplicationCycleInput(cycle, controllerId)).toEqual([]);
    const options = { maxConcurrentTransfers: 3, vms: ['a-1'] };
    expect(validateReplicationCycleInput({ ...cycle, options }, controllerId)).toEqual([]);
  });

  it('refuses a cycle not started by the controller', () => {
    expect(validateReplicationCycleInput(cycle, undefined)).toEqual([
      `started by a client, not by the controller ${controllerId}`,
    ]);
    expect(validateReplicationCycleInput(cycle, operationId).join()).toContain(`started by ${operationId}`);
    expect(validateReplicationCycleInput({ ...cycle, controllerId: 'runbook/x' }, controllerId)).toEqual([
      `controllerId runbook/x is not ${controllerId}`,
    ]);
  });

  it("refuses an id that is not one of the runbook's replication cycles", () => {
    expect(validateReplicationCycleInput({ ...cycle, id: operationId }, controllerId).join()).toContain(
      `id ${operationId} is not runbook/<name>/<kind>/<n> with kind replication`,
    );
    expect(validateReplicationCycleInput({ ...cycle, id: 'runbook/x/replication/7' }, controllerId)).toEqual([
      `id runbook/x/replication/7 is not an id of runbook ${plan.runbook.name}`,
    ]);
  });

  it('refuses a tampered plan, an unknown consistency and malformed options', () => {
    const tampered = { ...plan, replication: { ...plan.replication, consistency: 'hope' as Consistency } };
    expect(validateReplicationCycleInput({ ...cycle, plan: tampered }, controllerId)).toEqual([
      'plan hash does not match its content',
      'plan.replication.consistency hope is not one of crash, application',
    ]);
    expect(validateReplicationCycleInput({ ...cycle, plan: rehash(tampered) }, controllerId)).toEqual([
      'plan.replication.consistency hope is not one of crash, application',
    ]);
    const options = { maxConcurrentTransfers: 'two', vms: 'a-1' };
    expect(validateReplicationCycleInput({ ...cycle, options }, controllerId)).toEqual([
      'options.maxConcurrentTransfers is not a number',
      'options.vms is not a list of VM names',
    ]);
  });

  itRefusesGarbage(validateReplicationCycleInput, controllerId);
});

describe('validateReplicationVmInput', () => {
  it('accepts a VM started by the cycle it names', () => {
    expect(validateReplicationVmInput(vm, cycleId)).toEqual([]);
    const dataCommands = [['sha256sum', '/data/marker.txt']];
    expect(validateReplicationVmInput({ ...vm, dataCommands }, cycleId)).toEqual([]);
  });

  it('refuses data commands that are not argument lists', () => {
    for (const dataCommands of ['ls', [[]], [['ls', 3]], ['ls']]) {
      expect(validateReplicationVmInput({ ...vm, dataCommands }, cycleId)).toEqual([
        'dataCommands is not a list of argument lists',
      ]);
    }
  });

  it('refuses a VM not started by its cycle', () => {
    expect(validateReplicationVmInput(vm, undefined)).toEqual([
      `started by a client, not by its replication cycle ${cycleId}`,
    ]);
    expect(validateReplicationVmInput(vm, controllerId).join()).toContain(`started by ${controllerId}`);
    expect(validateReplicationVmInput({ ...vm, cycleId: operationId }, operationId).join()).toContain(
      `cycleId ${operationId} is not`,
    );
  });

  it("refuses another runbook's name, missing names and an unknown consistency", () => {
    expect(validateReplicationVmInput({ ...vm, runbook: 'x' }, cycleId)).toEqual([
      `runbook x is not the runbook of ${cycleId}`,
    ]);
    expect(
      validateReplicationVmInput({ ...vm, pointId: '', domain: 3, consistency: 'hope' }, cycleId),
    ).toEqual([
      'domain is missing',
      'pointId is missing',
      'consistency hope is not one of crash, application',
    ]);
  });

  itRefusesGarbage(validateReplicationVmInput, cycleId);
});
