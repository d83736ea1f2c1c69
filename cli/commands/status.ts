import type { Command } from 'commander';
import { latestDrills, renderLatestDrills } from '../../platform/latest-drills.ts';
import { listOperations, renderOperations } from '../../platform/operations.ts';
import { nameProblem, refuseArguments } from '../arguments.ts';
import { withTemporalClient } from '../with-client.ts';

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
        const drills = await latestDrills(client, runbooks);
        process.stdout.write(
          flags.json
            ? `${JSON.stringify({ ...result, drills }, null, 2)}\n`
            : `${renderOperations(result)}\n\n${renderLatestDrills(drills)}\n`,
        );
      });
    });
}
