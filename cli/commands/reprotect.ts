import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import type { ReprotectResult } from '../../workflows/reprotect.ts';
import { ExitCode } from '../exit-codes.ts';
import { loadPlanForCommand } from '../load-plan.ts';
import { startOperation } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';

function mib(n: number | null): string {
  return n === null ? '-' : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** What `reprotect --wait` prints: the direction, and per VM what was shipped and kept aside. */
export function renderReprotect(r: ReprotectResult): string {
  const lines = [`reprotect ${r.id}: ${r.outcome}${r.error ? ` (${r.error})` : ''}`];
  if (r.outcome === 'succeeded') lines.push(`  protection now runs from ${r.from} toward ${r.to}`);
  const rs = r.reverseSchedule;
  if (rs?.id) lines.push(`  reverse cycles: ${rs.id} ${rs.action === 'created' ? 'created' : 'runs on'}`);
  else if (rs?.why) lines.push(`  reverse cycles not scheduled: ${rs.why}`);
  for (const v of r.vms) {
    const window = v.since ? `since the last reverse cycle (${v.since})` : 'since failover';
    lines.push(
      `  ${v.vm}: from point ${v.pointId ?? '(none)'}: ${mib(v.deltaBytes)} of changed blocks (${mib(v.overlayBytes)} written at ${r.from} ${window}, ${mib(v.divergentBytes)} written at ${r.to} after the point), ${mib(v.bytesReceived)} on the link`,
    );
    if (v.sinceFailover && !v.fullReason) lines.push(`    everything since failover: ${v.sinceFailover}`);
    if (v.fullReason) lines.push(`    full copy: ${v.fullReason}`);
    const rp = v.reversePoint;
    if (rp)
      lines.push(
        `    reverse point ${rp.seq} at ${r.to}, ${rp.kept} kept${rp.undoBytes > 0 ? ` (${mib(rp.undoBytes)} kept to return to the one before)` : ''}${rp.dropped.length > 0 ? `; retention dropped ${rp.dropped.join(', ')}` : ''}`,
      );
    if (rp?.restartedBecause) lines.push(`    earlier reverse points dropped: ${rp.restartedBecause}`);
    if (v.sideDir)
      lines.push(
        `    divergent blocks of ${r.to} kept in ${v.sideDir} (lifeboat discard-divergent removes them)`,
      );
  }
  return `${lines.join('\n')}\n`;
}

/** `lifeboat reprotect <runbook>`: after a committed failover, protect the active site toward the old primary. */
export function registerReprotect(program: Command): void {
  program
    .command('reprotect')
    .description(
      'after a committed failover: make the old primary equal to the active site, shipping only the blocks that differ since the common point',
    )
    .argument('<file>', 'runbook file')
    .option('--wait', 'wait for it and print what each VM shipped')
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { wait?: boolean; json?: boolean }) => {
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      await withTemporalClient(async (client) => {
        const requestedBy = `${userInfo().username}@${hostname()}`;
        const op = await startOperation(client, { plan, kind: 'reprotect', requestedBy });
        if (!flags.wait) {
          process.stdout.write(flags.json ? `${JSON.stringify(op)}\n` : `reprotect started: ${op.id}\n`);
          return;
        }
        process.stderr.write(`reprotect started: ${op.id}; waiting\n`);
        const result = (await client.workflow.getHandle(op.id).result()) as ReprotectResult;
        process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderReprotect(result));
        if (result.outcome !== 'succeeded') process.exitCode = ExitCode.failed;
      }, flags);
    });
}
