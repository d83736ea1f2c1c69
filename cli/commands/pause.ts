import type { Command } from 'commander';
import type { PauseChoice } from '../../approvals/payload.ts';
import { nameProblem, refuseArguments } from '../arguments.ts';
import { decidePause } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';
import { reasonAndKey } from './approve.ts';
import { defaultOperatorName } from './operator.ts';

interface PauseFlags {
  group: string;
  reason?: string;
  operator: string;
  json?: boolean;
}

const DESCRIPTIONS: Record<PauseChoice, string> = {
  retry: 'run a paused group again from the step that failed',
  skip: 'leave a paused group failed and go on with the operation (it ends partial)',
  rollback: "roll the paused group's operation back",
};

/**
 * `lifeboat retry|skip|rollback <runbook> --group <g> --reason "..."`: a signed decision on a
 * group paused by `onFailure: pause` (who may decide: workflows/gates.ts, runbooks/README.md).
 */
export function registerPauseDecisions(program: Command): void {
  for (const choice of ['retry', 'skip', 'rollback'] as const) {
    program
      .command(choice)
      .description(`${DESCRIPTIONS[choice]}, signed with your operator key`)
      .argument('<runbook>', 'runbook name')
      .requiredOption('--group <name>', 'the paused group (see lifeboat status)')
      .option('--reason <text>', 'why (required; recorded in the report)')
      .option('--operator <name>', 'whose key signs', defaultOperatorName())
      .option('--json', 'machine-readable output')
      .action(async (runbook: string, flags: PauseFlags) => {
        if (refuseArguments(nameProblem('runbook name', runbook), nameProblem('group name', flags.group)))
          return;
        const signer = await reasonAndKey(choice, flags);
        if (!signer) return;
        await withTemporalClient(async (client) => {
          const record = await decidePause(client, {
            runbook,
            group: flags.group,
            decision: choice,
            ...signer,
          });
          process.stdout.write(
            flags.json
              ? `${JSON.stringify(record)}\n`
              : `${record.group}: ${record.decision} by ${record.operator} (${record.role}) recorded at ${record.recordedAt}\n`,
          );
        }, flags);
      });
  }
}
