/**
 * The controller's own activity: how its children really stand. A child terminated by hand, or
 * one that closed without its finished signal, would otherwise hold its slot for good.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { operationStatus } from '../platform/operation-status.ts';
import { runbookStateQuery } from '../workflows/messages.ts';
import type { OperationStatus, PinnedPeople } from '../workflows/types.ts';

export function createControllerActivities() {
  return {
    async describeOperations(input: { ids: string[] }): Promise<OperationStatus[]> {
      const client = Context.current().client;
      const out: OperationStatus[] = [];
      for (const id of input.ids) out.push(await operationStatus(client, id));
      return out;
    },
    /**
     * Who may decide for the runbook, as its controller pinned them (undefined: no controller, or
     * nothing pinned yet). For workflows that check a signature outside the controller (unfence).
     */
    async pinnedPeopleOf(input: { controllerId: string }): Promise<PinnedPeople | null> {
      const client = Context.current().client;
      try {
        const state = await client.workflow.getHandle(input.controllerId).query(runbookStateQuery);
        return state.people ?? null;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    },
  };
}

export type ControllerActivities = ReturnType<typeof createControllerActivities>;
