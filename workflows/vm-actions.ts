/**
 * The VM actions an operation runs for a group, in order per VM, each with its undo. Pure, so
 * the list is unit-tested; the interpreter resolves sites and runs them through site activities.
 */
import type { OperationKind, PlanGroup } from '../runbooks/plan.ts';
import type { VmAction } from './types.ts';

export interface VmActionContext {
  /** Network role the drill attaches VMs to (the Plan's `drill.network`). */
  drillNetwork?: string;
  /** Drills and failovers build their VMs from recovery points (since the restore work). */
  fromPoints?: boolean;
}

/** For each VM of the group (in the group's order), its actions in execution order. */
export function vmActionsFor(
  op: OperationKind,
  group: PlanGroup,
  ctx: VmActionContext = {},
): Array<{ vm: string; actions: VmAction[] }> {
  return group.vms.map((v) => ({ vm: v.name, actions: actionsForVm(op, v.name, ctx) }));
}

function actionsForVm(op: OperationKind, vm: string, ctx: VmActionContext): VmAction[] {
  switch (op) {
    case 'drill': {
      // A drill boots a copy on the secondary, isolated on the bubble network; production on the
      // primary is never touched.
      // The copy is built from the recovery point (overlays on the replica) and started as a
      // transient domain; its teardown removes domain and overlays, and is pushed even when a
      // retry finds the overlays already made, because a drill always cleans up.
      const network = ctx.drillNetwork ?? 'bubble';
      if (!ctx.fromPoints) {
        // Operations started before drills restored points (their histories replay this way).
        return [
          {
            action: 'prepareVm',
            site: 'secondary',
            vm,
            network,
            undo: { action: 'teardownVm', site: 'secondary', vm },
          },
          {
            action: 'startVm',
            site: 'secondary',
            vm,
            network,
            boot: true,
            undo: { action: 'stopVm', site: 'secondary', vm },
          },
        ];
      }
      return [
        {
          action: 'prepareVm',
          site: 'secondary',
          vm,
          network,
          fromPoint: true,
          alwaysUndo: true,
          undo: { action: 'teardownVm', site: 'secondary', vm, fromPoint: true },
        },
        { action: 'startVm', site: 'secondary', vm, network, boot: true, fromPoint: true },
      ];
    }
    case 'failover':
      if (ctx.fromPoints) {
        // The primary was shut down (or is gone) before the waves (workflows/failover.ts): each VM
        // is built at the secondary from the chosen point, on a copy-on-write overlay, with its
        // own name and UUID, on the production network, defined persistently.
        return [
          {
            action: 'prepareVm',
            site: 'secondary',
            vm,
            network: 'production',
            fromPoint: true,
            alwaysUndo: true,
            undo: { action: 'teardownVm', site: 'secondary', vm, fromPoint: true },
          },
          { action: 'startVm', site: 'secondary', vm, network: 'production', boot: true, fromPoint: true },
        ];
      }
      // Operations started before failovers restored points (their histories replay this way).
      // Fence the primary first (best effort: in a real disaster it is gone), then bring the VM up
      // on the secondary's production network.
      return [
        {
          action: 'stopVm',
          site: 'primary',
          vm,
          bestEffort: true,
          undo: { action: 'startVm', site: 'primary', vm, network: 'production', boot: true },
        },
        {
          action: 'prepareVm',
          site: 'secondary',
          vm,
          network: 'production',
          undo: { action: 'teardownVm', site: 'secondary', vm },
        },
        {
          action: 'startVm',
          site: 'secondary',
          vm,
          network: 'production',
          boot: true,
          undo: { action: 'stopVm', site: 'secondary', vm },
        },
      ];
    case 'failback':
      // The mirror image: stop on the secondary (both sites are reachable in a planned failback),
      // then bring the VM back on the primary.
      return [
        {
          action: 'stopVm',
          site: 'secondary',
          vm,
          undo: { action: 'startVm', site: 'secondary', vm, network: 'production', boot: true },
        },
        {
          action: 'prepareVm',
          site: 'primary',
          vm,
          network: 'production',
          undo: { action: 'teardownVm', site: 'primary', vm },
        },
        {
          action: 'startVm',
          site: 'primary',
          vm,
          network: 'production',
          boot: true,
          undo: { action: 'stopVm', site: 'primary', vm },
        },
      ];
  }
}

/** Steps (before/after) that this operation runs, in order. */
export function stepsFor<T extends { in: OperationKind[] }>(op: OperationKind, steps: readonly T[]): T[] {
  return steps.filter((s) => s.in.includes(op));
}
