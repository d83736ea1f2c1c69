import type { Command } from 'commander';
import { listOperations, renderOperations } from '../../platform/operations.ts';
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
      await withTemporalClient(async (client) => {
        const result = await listOperations(client, {
          recent: Number.isInteger(flags.recent) && flags.recent >= 0 ? flags.recent : 10,
          ...(flags.runbook ? { runbook: flags.runbook } : {}),
        });
        process.stdout.write(
          flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderOperations(result)}\n`,
        );
      });
    });
}
