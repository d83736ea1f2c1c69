import type { Command } from 'commander';
import { loadPlanForCommand } from '../load-plan.ts';
import { unfence } from '../unfence-client.ts';
import { withTemporalClient } from '../with-client.ts';
import { reasonAndKey } from './approve.ts';
import { defaultOperatorName } from './operator.ts';

/**
 * `lifeboat unfence <runbook> --reason "..."`: lifts the runbook's fence at the fenced site, signed
 * with the operator's key; only an operator holding a role that approves the runbook's gates
 * may (any role when it has none). The site's record and the controller say who and why.
 */
export function registerUnfence(program: Command): void {
  program
    .command('unfence')
    .description("lift the runbook's fence at the fenced site (signed; the runbook's approvers only)")
    .argument('<runbook>', 'runbook file')
    .option('--reason <text>', 'why (required; recorded at the site and in the controller)')
    .option('--operator <name>', 'whose key signs', defaultOperatorName())
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { reason?: string; operator: string; json?: boolean }) => {
      const signer = await reasonAndKey('unfence', flags);
      if (!signer) return;
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      await withTemporalClient(async (client) => {
        const r = await unfence(client, { plan, ...signer });
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(r)}\n`
            : `${r.id}: ${r.lifted ? `fence lifted at site ${r.site}` : `no fence stood at site ${r.site}`} by ${r.by} (${r.reason})\n`,
        );
      });
    });
}
