import type { Command } from 'commander';
import pc from 'picocolors';
import { sortFindings } from '../../runbooks/findings.ts';
import { type Finding, formatFinding, loadRunbook } from '../../runbooks/index.ts';
import { ExitCode } from '../exit-codes.ts';
import { addLiveOptions, orUnavailable, runLiveCheck } from '../live.ts';

interface ValidateOptions {
  json?: boolean;
  live?: boolean;
  siteTimeout?: number;
}

/**
 * `lifeboat validate <files...>`: every finding of every file; exit 1 on errors, 0 on warnings
 * alone. `--live` adds the checks against the running sites (a file with static errors is not
 * checked live); exit 3 when the live check cannot run at all.
 */
export function registerValidate(program: Command): void {
  addLiveOptions(
    program
      .command('validate')
      .description('Check runbooks and report every problem at once (file:line:col)')
      .argument('<files...>', 'runbook files')
      .option('--json', 'print the findings as JSON'),
  ).action(async (files: string[], opts: ValidateOptions) => {
    const colors = pc.createColors(Boolean(process.stdout.isTTY) && !opts.json);
    const results = [];
    for (const file of files) {
      const r = await loadRunbook(file);
      let findings = r.findings;
      if (opts.live && r.plan) {
        const plan = r.plan;
        const live = await orUnavailable(() =>
          runLiveCheck(file, plan, opts.siteTimeout ? { scheduleToStartMs: opts.siteTimeout } : {}),
        );
        if (!live) return;
        findings = sortFindings([...findings, ...live.findings]);
      }
      results.push({ file, findings, planHash: r.plan?.hash });
    }
    const all: Finding[] = results.flatMap((r) => r.findings);
    const errors = all.filter((f) => f.severity === 'error').length;
    const warnings = all.length - errors;
    if (opts.json) {
      const files = results.map((r) => ({
        file: r.file,
        ok: r.planHash !== undefined && !r.findings.some((f) => f.severity === 'error'),
        errors: r.findings.filter((f) => f.severity === 'error').length,
        warnings: r.findings.filter((f) => f.severity === 'warning').length,
        planHash: r.planHash ?? null,
      }));
      process.stdout.write(
        `${JSON.stringify({ ok: errors === 0, live: Boolean(opts.live), errors, warnings, files, findings: all }, null, 2)}\n`,
      );
    } else {
      for (const r of results) {
        for (const f of r.findings) {
          const text = formatFinding(f);
          process.stdout.write(`${f.severity === 'error' ? colors.red(text) : colors.yellow(text)}\n`);
        }
        const e = r.findings.filter((f) => f.severity === 'error').length;
        const w = r.findings.length - e;
        const status = e > 0 ? colors.red('invalid') : colors.green('ok');
        const counts =
          e + w > 0 ? ` (${e} error${e === 1 ? '' : 's'}, ${w} warning${w === 1 ? '' : 's'})` : '';
        const where = opts.live && r.planHash !== undefined ? ' (checked live)' : '';
        process.stdout.write(`${r.file}: ${status}${counts}${where}\n`);
      }
    }
    process.exitCode = errors > 0 ? ExitCode.failed : ExitCode.ok;
  });
}
