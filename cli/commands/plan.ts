import { type Command, Option } from 'commander';
import pc from 'picocolors';
import { formatFinding, loadRunbook, OPERATION_KINDS, type OperationKind } from '../../runbooks/index.ts';
import { renderPlan } from '../../runbooks/render-plan.ts';
import { ExitCode } from '../exit-codes.ts';
import { addLiveOptions, orUnavailable, renderLiveSummary, runLiveCheck } from '../live.ts';

interface PlanOptions {
  for?: OperationKind;
  json?: boolean;
  live?: boolean;
  siteTimeout?: number;
}

/**
 * `lifeboat plan <file>`: what an operation would do, before anything runs. `--live` adds what
 * each site's worker finds (VMs, networks, storage, memory) and the live findings; exit 1 when
 * they include errors, 3 when the live check cannot run at all.
 */
export function registerPlan(program: Command): void {
  addLiveOptions(
    program
      .command('plan')
      .description('Show the plan a runbook compiles to: waves, groups, gates, hooks, checks, objectives')
      .argument('<file>', 'runbook file')
      .addOption(
        new Option('--for <operation>', 'show what this operation runs and skips').choices([
          ...OPERATION_KINDS,
        ]),
      )
      .option('--json', 'print the compiled Plan as JSON (with --live: {plan, live})'),
  ).action(async (file: string, opts: PlanOptions) => {
    const result = await loadRunbook(file);
    const tty = Boolean(process.stdout.isTTY) && !opts.json;
    const errColors = pc.createColors(Boolean(process.stderr.isTTY));
    const printFindings = (findings: typeof result.findings) => {
      for (const f of findings) {
        const text = formatFinding(f);
        process.stderr.write(`${f.severity === 'error' ? errColors.red(text) : errColors.yellow(text)}\n`);
      }
    };
    printFindings(result.findings);
    const plan = result.plan;
    if (!plan) {
      process.exitCode = ExitCode.failed;
      return;
    }
    const live = opts.live
      ? await orUnavailable(() =>
          runLiveCheck(file, plan, opts.siteTimeout ? { scheduleToStartMs: opts.siteTimeout } : {}),
        )
      : undefined;
    if (opts.live && !live) return;
    if (opts.json) {
      const out = live ? { plan, live: { findings: live.findings, sites: live.inventories } } : plan;
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      const colors = pc.createColors(tty);
      process.stdout.write(renderPlan(plan, opts.for, colors));
      if (live) process.stdout.write(`\n${renderLiveSummary(plan, live.inventories, colors)}`);
    }
    if (live) printFindings(live.findings);
    process.exitCode = live?.findings.some((f) => f.severity === 'error') ? ExitCode.failed : ExitCode.ok;
  });
}
