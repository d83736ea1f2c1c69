import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { controllerStates } from '../../platform/controller-states.ts';
import { drStateRows, renderDrState } from '../../platform/dr-state-status.ts';
import { type LatestDrill, latestDrills, renderLatestDrills } from '../../platform/latest-drills.ts';
import { listOperations, renderOperations } from '../../platform/operations.ts';
import { pinnedRows, renderPinnedPeople } from '../../platform/pinned-people.ts';
import { describeProtection, protectedRunbooks } from '../../platform/protection.ts';
import {
  judgeProtection,
  type ProtectionStatus,
  renderProtection,
} from '../../platform/protection-status.ts';
import type { RunbookState } from '../../workflows/types.ts';
import { nameProblem, refuseArguments } from '../arguments.ts';
import { withTemporalClient } from '../with-client.ts';
import { divergentStatus, renderDivergentStatus } from './divergent.ts';

/** Each runbook's Schedules, its controller's last complete cycle and its latest drill, judged now. */
async function protectionStatus(
  client: Client,
  runbooks: readonly string[],
  drills: readonly LatestDrill[],
  states: Map<string, RunbookState>,
): Promise<ProtectionStatus[]> {
  const now = Date.now();
  return Promise.all(
    runbooks.map(async (runbook) => {
      const view = await describeProtection(client, runbook);
      // A controller whose worker is down is not in `states`: its RPO line is left out.
      const state = view.protected ? states.get(runbook) : undefined;
      const drill = drills.find((d) => d.runbook === runbook)?.drill;
      return judgeProtection(
        {
          runbook,
          view,
          ...(drill ? { drill } : {}),
          ...(state?.protectedAt ? { protectedAt: state.protectedAt } : {}),
          ...(state?.fence ? { fence: state.fence } : {}),
          ...(view.rpoObjectiveMs !== undefined ? { rpoObjectiveMs: view.rpoObjectiveMs } : {}),
        },
        now,
      );
    }),
  );
}

/** `lifeboat status`: operations in flight and recent, by runbook and kind, with their progress. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('operations in flight and recent, with their progress')
    .option('--runbook <name>', 'only this runbook')
    .option('--recent <n>', 'how many finished operations to show', (v) => Number.parseInt(v, 10), 10)
    .option('--json', 'machine-readable output')
    .action(async (flags: { runbook?: string; recent: number; json?: boolean }) => {
      if (flags.runbook !== undefined && refuseArguments(nameProblem('runbook name', flags.runbook))) return;
      await withTemporalClient(async (client) => {
        const result = await listOperations(client, {
          recent: Number.isInteger(flags.recent) && flags.recent >= 0 ? flags.recent : 10,
          ...(flags.runbook ? { runbook: flags.runbook } : {}),
        });
        const runbooks = flags.runbook
          ? [flags.runbook]
          : [...result.inFlight, ...result.recent].map((r) => r.runbook).filter((r): r is string => !!r);
        const scheduled = flags.runbook ? [flags.runbook] : await protectedRunbooks(client).catch(() => []);
        const all = [...new Set([...runbooks, ...scheduled])];
        const drills = await latestDrills(client, all);
        const states = await controllerStates(client, all);
        const protection = await protectionStatus(client, scheduled, drills, states);
        const people = pinnedRows(all, states);
        const drState = drStateRows(all, states);
        const divergent = await divergentStatus(client, [...result.inFlight, ...result.recent]);
        process.stdout.write(
          flags.json
            ? `${JSON.stringify({ ...result, drills, protection, people, drState, divergent }, null, 2)}\n`
            : `${renderOperations(result)}\n\n${renderLatestDrills(drills)}\n\n${renderProtection(protection, Date.now())}\n\n${renderPinnedPeople(people)}\n\n${renderDrState(drState)}\n\n${renderDivergentStatus(divergent)}\n`,
        );
      });
    });
}
