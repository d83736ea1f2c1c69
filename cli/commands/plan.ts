import { type Command, Option } from 'commander';
import pc from 'picocolors';
import { formatFinding, loadRunbook, OPERATION_KINDS, type OperationKind } from '../../runbooks/index.ts';
import { renderPlan } from '../../runbooks/render-plan.ts';
import { ExitCode } from '../exit-codes.ts';

interface PlanOptions {
  for?: OperationKind;
  json?: boolean;
}

/** `lifeboat plan <file>`: what an operation would do, before anything runs. */
export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Show the plan a runbook compiles to: waves, groups, gates, hooks, checks, objectives')
    .argument('<file>', 'runbook file')
    .addOption(
      new Option('--for <operation>', 'show what this operation runs and skips').choices([
        ...OPERATION_KINDS,
      ]),
    )
    .option('--json', 'print the compiled Plan as JSON')
    .action(async (file: string, opts: PlanOptions) => {
      const result = await loadRunbook(file);
      const tty = Boolean(process.stdout.isTTY) && !opts.json;
      const errColors = pc.createColors(Boolean(process.stderr.isTTY));
      for (const f of result.findings) {
        const text = formatFinding(f);
        process.stderr.write(`${f.severity === 'error' ? errColors.red(text) : errColors.yellow(text)}\n`);
      }
      if (!result.plan) {
        process.exitCode = ExitCode.failed;
        return;
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result.plan, null, 2)}\n`);
      } else {
        process.stdout.write(renderPlan(result.plan, opts.for, pc.createColors(tty)));
      }
      process.exitCode = ExitCode.ok;
    });
}
