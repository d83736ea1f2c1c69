import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { describeProtection, protectRunbook, unprotectRunbook } from '../../platform/protection.ts';
import { formatFinding, loadRunbook } from '../../runbooks/index.ts';
import { ExitCode } from '../exit-codes.ts';
import { loadPlanForCommand } from '../load-plan.ts';
import { withTemporalClient } from '../with-client.ts';

function every(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** A runbook name, or the name inside a runbook file. */
async function runbookName(arg: string): Promise<string | undefined> {
  if (!existsSync(arg)) return arg;
  const loaded = await loadRunbook(arg);
  for (const f of loaded.findings) process.stderr.write(`${formatFinding(f)}\n`);
  return loaded.plan?.runbook.name;
}

/** `lifeboat protect <file>` / `lifeboat unprotect <runbook>`: the runbook's protection Schedules. */
export function registerProtect(program: Command): void {
  program
    .command('protect')
    .description(
      'replicate every replication.every and drill every drill.every (Temporal Schedules; again: update)',
    )
    .argument('<file>', 'runbook file')
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { json?: boolean }) => {
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      await withTemporalClient(async (client) => {
        const r = await protectRunbook(client, plan);
        const view = await describeProtection(client, plan.runbook.name);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...r, view }, null, 2)}\n`);
          return;
        }
        const lines = [`runbook ${r.runbook} protected`];
        for (const s of r.schedules) {
          const next = view[s.kind]?.nextAt;
          lines.push(
            `  ${s.kind} every ${every(s.everyMs)}: ${s.id} ${s.action}${next ? `, next ${next}` : ''}`,
          );
        }
        for (const id of r.removed) lines.push(`  ${id} removed (the runbook no longer asks for it)`);
        if (view.paused) lines.push(`  paused: ${view.note ?? 'no reason given'}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
  program
    .command('unprotect')
    .description('stop the runbook’s scheduled replication and drills (points are kept)')
    .argument('<runbook>', 'runbook name or file')
    .option('--json', 'machine-readable output')
    .action(async (arg: string, flags: { json?: boolean }) => {
      const runbook = await runbookName(arg);
      if (!runbook) {
        process.exitCode = ExitCode.failed;
        return;
      }
      await withTemporalClient(async (client) => {
        const removed = await unprotectRunbook(client, runbook);
        if (flags.json) process.stdout.write(`${JSON.stringify({ runbook, removed })}\n`);
        else
          process.stdout.write(
            removed.length > 0
              ? `runbook ${runbook} unprotected: ${removed.join(', ')} removed\n`
              : `runbook ${runbook} was not protected\n`,
          );
      });
    });
}
