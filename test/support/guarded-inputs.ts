import { expect, it } from 'vitest';
import { controllerWorkflowId } from '../../platform/names.ts';
import type { Plan, PlanGroup } from '../../runbooks/plan.ts';
import type { InputValidator } from '../../workflows/guard.ts';
import type { SiteInventoryInput } from '../../workflows/inventory.ts';
import type { ReplicationCycleInput } from '../../workflows/replication.ts';
import type { VmCycleInput } from '../../workflows/replication-vm.ts';
import type { Compensation, GroupInput } from '../../workflows/types.ts';

/** Inputs no validator may accept, nor throw on. */
const GARBAGE_INPUTS: unknown[] = [null, 42, 'x', [], {}, { plan: null }, { stack: 'x' }, { sites: {} }];

/** One test per garbage input: `validate` refuses it without throwing. */
export function itRefusesGarbage(validate: InputValidator, parentId?: string): void {
  it.each(GARBAGE_INPUTS)('refuses %j without throwing', (bad) => {
    expect(validate(bad, parentId).length).toBeGreaterThan(0);
  });
}

/**
 * Well-formed inputs of the child workflow types for `plan`, built as their real parents build
 * them; only the parent (the workflow that starts them) decides whether they may run.
 */
export function guardedInputs(plan: Plan) {
  const controllerId = controllerWorkflowId(plan.runbook.name);
  const operationId = `${controllerId}/drill/7`;
  const cycleId = `${controllerId}/replication/7`;
  const group = plan.groups[0] as PlanGroup;
  const vm = group.vms[0]?.name ?? 'vm';
  const undo: Compensation = {
    key: `${plan.sites.secondary.name}/stopVm/${vm}`,
    group: group.name,
    siteName: plan.sites.secondary.name,
    action: 'stopVm',
    vm,
  };
  return {
    controllerId,
    operationId,
    cycleId,
    group: {
      operationId,
      parentId: operationId,
      kind: 'drill',
      group,
      sites: plan.sites,
      drillNetwork: plan.drill?.network,
      operators: plan.operators,
      roles: plan.roles,
      bootConcurrency: 2,
    } satisfies GroupInput,
    compensation: { operationId, stack: [undo] },
    cycle: { id: cycleId, plan, controllerId } satisfies ReplicationCycleInput,
    vm: {
      cycleId,
      runbook: plan.runbook.name,
      group: group.name,
      vm,
      domain: vm,
      pointId: '20260101T000000Z-7',
      primarySite: plan.sites.primary.name,
      secondarySite: plan.sites.secondary.name,
      consistency: plan.replication.consistency,
    } satisfies VmCycleInput,
    inventory: {
      sites: [
        { role: 'primary', site: plan.sites.primary.name, request: { vms: [vm], storage: [], host: false } },
        { role: 'secondary', site: plan.sites.secondary.name, request: { vms: [], storage: [], host: true } },
      ],
    } satisfies SiteInventoryInput,
  };
}
