/**
 * The controller's own activity: how its children really stand. A child terminated by hand, or
 * one that closed without its finished signal, would otherwise hold its slot for good.
 */
import { Context } from '@temporalio/activity';
import { operationStatus } from '../platform/operation-status.ts';
import type { OperationStatus } from '../workflows/types.ts';

export function createControllerActivities() {
  return {
    async describeOperations(input: { ids: string[] }): Promise<OperationStatus[]> {
      const client = Context.current().client;
      const out: OperationStatus[] = [];
      for (const id of input.ids) out.push(await operationStatus(client, id));
      return out;
    },
  };
}

export type ControllerActivities = ReturnType<typeof createControllerActivities>;
