import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { type LatestDrill, latestDrills, renderLatestDrills } from '../../platform/latest-drills.ts';
import { listOperations, renderOperations } from '../../platform/operations.ts';
import { pinnedPeople, renderPinnedPeople } from '../../platform/pinned-people.ts';
import { describeProtection, protectedRunbooks } from '../../platform/protection.ts';
import {
  judgeProtection,
  type ProtectionStatus,
  renderProtection,
} from '../../platform/protection-status.ts';
import { nameProblem, refuseArguments } from '../arguments.ts';
import { runbookState } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';
import { divergentStatus, renderDivergentStatus } from './divergent.ts';

/** Each runbook's Schedules, its controller's last complete cycle and its latest drill, judged now. */
async function protectionStatus(
  client: Client,
  runbooks: readonly string[],
  drills: readonly LatestDrill[],
): Promise<ProtectionStatus[]> {
  const now = Date.now();
  return Promise.all(
    runbooks.map(async (runbook) => {
      const view = await describeProtection(client, runbook);
      // A controller whose worker is down must not hang `status`: its RPO line is left out.
      const state = view.protected
        ? await Promise.race([
            runbookState(client, runbook).catch(() => undefined),
            new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3_000).unref()),
          ])
        : undefined;
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
        const drills = await latestDrills(client, [...new Set([...runbooks, ...scheduled])]);
        const protection = await protectionStatus(client, scheduled, drills);
        const people = await pinnedPeople(client, [...new Set([...runbooks, ...scheduled])]);
        const divergent = await divergentStatus(client, [...result.inFlight, ...result.recent]);
        process.stdout.write(
          flags.json
            ? `${JSON.stringify({ ...result, drills, protection, people, divergent }, null, 2)}\n`
            : `${renderOperations(result)}\n\n${renderLatestDrills(drills)}\n\n${renderProtection(protection, Date.now())}\n\n${renderPinnedPeople(people)}\n\n${renderDivergentStatus(divergent)}\n`,
        );
      });
    });
}
