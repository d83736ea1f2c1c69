/**
 * Each runbook's controller state as `lifeboat status` reads it: one query per runbook, and a
 * controller that does not answer in 3 s (its worker down) is left out rather than hang `status`.
 */
import type { Client } from '@temporalio/client';
import { runbookState } from '../cli/runbook-client.ts';
import type { RunbookState } from '../workflows/types.ts';

export async function controllerStates(
  client: Client,
  runbooks: readonly string[],
): Promise<Map<string, RunbookState>> {
  const states = await Promise.all(
    runbooks.map((runbook) =>
      Promise.race([
        runbookState(client, runbook).catch(() => undefined),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3_000).unref()),
      ]),
    ),
  );
  return new Map(states.flatMap((s, i) => (s ? [[runbooks[i] as string, s] as const] : [])));
}
