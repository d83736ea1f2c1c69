import path from 'node:path';
import type { Command } from 'commander';
import { lifeboatHome } from '../../platform/home.ts';
import { duration } from '../../reports/html/format.ts';
import { printPdf } from '../../reports/pdf.ts';
import { listReports, readReport, rebuildIndex } from '../../reports/store.ts';
import { drillStatus, failbackLines, failoverLines, summarize } from '../../reports/summary.ts';
import { loadRunbook } from '../../runbooks/index.ts';
import { ExitCode } from '../exit-codes.ts';
import { registerReportVerify } from './report-verify.ts';

async function currentPlanHash(file: string | undefined): Promise<string | undefined> {
  if (!file) return undefined;
  const loaded = await loadRunbook(file);
  if (!loaded.plan) throw new Error(`${file} has errors; run lifeboat validate ${file}`);
  return loaded.plan.hash;
}

/** `lifeboat report list|show|verify|pdf`: signed drill, failover and failback reports. */
export function registerReport(program: Command): void {
  const report = program.command('report').description('signed reports of drills, failovers and failbacks');

  report
    .command('list')
    .description(
      'reports with verdict, RTO and RPO; with --runbook-file, whether the current Plan has a passing drill',
    )
    .argument('[runbook]', 'only this runbook')
    .option(
      '--runbook-file <file>',
      'the runbook\'s file: its Plan hash decides "needs a drill" (rewrites index.html)',
    )
    .option('--json', 'machine-readable output')
    .action(async (runbook: string | undefined, flags: { runbookFile?: string; json?: boolean }) => {
      const home = lifeboatHome();
      const rows = await listReports(home, runbook);
      const planHash = await currentPlanHash(flags.runbookFile);
      const status = runbook ? drillStatus(rows, planHash) : undefined;
      if (runbook && rows.length > 0) await rebuildIndex(home, runbook, planHash);
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ reports: rows, ...(status ? { drillStatus: status.state } : {}) }, null, 2)}\n`,
        );
        return;
      }
      if (rows.length === 0) process.stdout.write('no reports\n');
      for (const r of rows) {
        process.stdout.write(
          `${r.id.padEnd(32)} ${r.verdict.toUpperCase().padEnd(4)} ${r.startedAt}  RTO ${duration(r.rtoMs)}/${duration(r.rtoTargetMs)}  RPO ${duration(r.rpoMs)}/${duration(r.rpoTargetMs)}  ${r.sha256.slice(0, 12)}\n`,
        );
      }
      if (status?.state === 'needs-drill')
        process.stdout.write('needs a drill: the current Plan has no passing drill\n');
      if (status?.state === 'current')
        process.stdout.write(`the current Plan has a passing drill: ${status.passing.id}\n`);
    });

  report
    .command('show')
    .description("one report: verdict, objectives, a failover's or failback's facts, where its files are")
    .argument('<id>', 'e.g. lab/drill/3 or runbook/lab/drill/3')
    .option('--json', 'machine-readable output')
    .action(async (id: string, flags: { json?: boolean }) => {
      const r = await readReport(lifeboatHome(), id);
      const s = summarize(r.envelope, path.basename(r.jsonPath), r.sha256);
      const out = {
        ...s,
        verdictReasons: r.envelope.evidence.verdictReasons,
        ...(r.envelope.evidence.failover ? { failover: r.envelope.evidence.failover } : {}),
        ...(r.envelope.evidence.failback ? { failback: r.envelope.evidence.failback } : {}),
        previous: r.envelope.previous,
        key: r.envelope.key,
        jsonPath: r.jsonPath,
        htmlPath: r.htmlPath,
      };
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const lines = [
        `${s.id}: ${s.verdict.toUpperCase()} (${s.outcome}), started ${s.startedAt}`,
        ...out.verdictReasons.map((x) => `  - ${x}`),
        `RTO ${duration(s.rtoMs)} (target ${duration(s.rtoTargetMs)})   RPO ${duration(s.rpoMs)} (target ${duration(s.rpoTargetMs)})`,
        ...(out.failover ? failoverLines(out.failover) : []),
        ...(out.failback ? failbackLines(out.failback) : []),
        `signed ${r.envelope.signedAt} by ${r.envelope.key.fingerprint}`,
        `previous ${r.envelope.previous ? `${r.envelope.previous.id} ${r.envelope.previous.sha256}` : '(first report)'}`,
        `report ${r.jsonPath} (sha256 ${r.sha256})`,
        `page   ${r.htmlPath}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  registerReportVerify(report);

  report
    .command('pdf')
    .description('print a report page to PDF with headless Chromium (no network)')
    .argument('<id>', 'e.g. lab/drill/3')
    .option('-o, --output <file>', 'where to write the PDF (default: beside the report)')
    .action(async (id: string, flags: { output?: string }) => {
      const r = await readReport(lifeboatHome(), id);
      const out = flags.output ?? r.htmlPath.replace(/\.html$/, '.pdf');
      const { requests } = await printPdf(r.htmlPath, out);
      if (requests > 0) {
        process.stderr.write(`lifeboat: the page tried ${requests} network request(s); all were refused\n`);
        process.exitCode = ExitCode.failed;
      }
      process.stdout.write(`${out}\n`);
    });
}
