import type { Command } from 'commander';
import { type ScrubResult, scrubPoint, scrubVm } from '../../replication/scrub.ts';
import { ExitCode } from '../exit-codes.ts';
import { openRunbookStore } from './points.ts';

export function renderScrub(results: ScrubResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.vm} ${r.pointId}: ${r.state} (chain of ${r.chain.length})`);
    for (const f of r.findings) {
      const where = f.disk
        ? ` disk ${f.disk}${f.blocks?.length ? `, block ${f.blocks.slice(0, 8).join(',')} (${f.blockSize} bytes each)` : ''}`
        : '';
      lines.push(`  ${f.pointId}${where}: ${f.problem}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `lifeboat verify <runbook> [--point <id>]`: the whole-chain scrub now, on the replica store at
 * the secondary as this machine sees it (like `points`). Exit 1 when any point failed.
 */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'verify recovery points over their whole chain now: files, content digests; marks them verified or failed',
    )
    .argument('<file>', 'runbook file')
    .option('--point <id>', 'only this point (and its chain), for each VM that has it')
    .option('--vm <name>', 'only this VM')
    .option('--json', 'machine-readable output')
    .option('--store <dir>', 'replica store directory (default: the secondary site storage + /replicas)')
    .action(async (file: string, flags: { point?: string; vm?: string; json?: boolean; store?: string }) => {
      const opened = await openRunbookStore(file, flags, true);
      if (opened === null) return;
      const { plan, vms, store } = opened;
      const results: ScrubResult[] = [];
      for (const vm of vms) {
        if (flags.point === undefined) results.push(...(await scrubVm(store, vm)));
        else if (await store.getPoint(vm, flags.point))
          results.push(await scrubPoint(store, vm, flags.point));
      }
      if (flags.point !== undefined && results.length === 0) {
        process.stderr.write(`lifeboat: no VM of ${plan.runbook.name} has point ${flags.point}\n`);
        process.exitCode = ExitCode.failed;
        return;
      }
      process.stdout.write(flags.json ? `${JSON.stringify(results, null, 2)}\n` : renderScrub(results));
      if (results.some((r) => r.state === 'failed')) process.exitCode = ExitCode.failed;
    });
}
