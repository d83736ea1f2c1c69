import type { Command } from 'commander';
import { nameProblem, refuseArguments } from '../arguments.ts';
import { acceptDrState } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';
import { defaultOperatorName, optionalOperatorKey } from './operator.ts';

/**
 * `lifeboat dr-state accept <runbook> --site <name> --reason "..."`: when the DR-state records the
 * two sites keep disagree (status shows what differs), every operation is refused until an operator
 * picks one site's record. Signed with the operator's key when that record names operators.
 */
export function registerDrState(program: Command): void {
  const drState = program
    .command('dr-state')
    .description("the runbook's DR state as its sites keep it (lifeboat status shows it)");
  drState
    .command('accept')
    .description("settle a dispute between the sites' DR-state records by accepting one site's")
    .argument('<runbook>', 'runbook name')
    .requiredOption('--site <name>', 'the site whose record is right')
    .requiredOption('--reason <text>', 'why (recorded in the state both sites keep)')
    .option('--operator <name>', 'whose key signs', defaultOperatorName())
    .option('--json', 'machine-readable output')
    .action(
      async (runbook: string, flags: { site: string; reason: string; operator: string; json?: boolean }) => {
        if (refuseArguments(nameProblem('runbook name', runbook), nameProblem('site name', flags.site)))
          return;
        const key = await optionalOperatorKey(flags.operator);
        await withTemporalClient(async (client) => {
          const r = await acceptDrState(client, {
            runbook,
            site: flags.site,
            reason: flags.reason,
            ...(key ? { key } : { by: flags.operator }),
          });
          const who = r.decision.signature
            ? `${r.decision.operator} (${r.decision.role}, signed)`
            : r.decision.operator;
          process.stdout.write(
            flags.json
              ? `${JSON.stringify(r)}\n`
              : `${runbook}: accepted site ${r.site}'s DR state (version ${r.version}) by ${who}; it is written to both sites as the newest version\n`,
          );
        });
      },
    );
}
