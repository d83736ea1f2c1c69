import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { ORCHESTRATOR_TASK_QUEUE } from '../../platform/names.ts';
import type { DiscardRecord, DivergentEntry } from '../../replication/reverse/divergent.ts';
import type { Plan } from '../../runbooks/plan.ts';
import type { DivergentInput, divergentBlocksWorkflow } from '../../workflows/divergent.ts';
import type { ReprotectResult } from '../../workflows/reprotect.ts';
import { ExitCode } from '../exit-codes.ts';
import { loadPlanForCommand } from '../load-plan.ts';
import { withTemporalClient } from '../with-client.ts';

export interface DivergentAnswer {
  site: string;
  kept: DivergentEntry[];
  discarded: DiscardRecord[];
}

/** Asks the old primary's worker (through `divergentBlocksWorkflow`) what it keeps; `discard` removes it. */
export async function divergentBlocks(
  client: Client,
  plan: Plan,
  discard?: { by: string; reason: string },
  opts: { workflowId?: string } = {},
): Promise<DivergentAnswer> {
  const input: DivergentInput = {
    runbook: plan.runbook.name,
    site: plan.sites.primary.name,
    ...(discard === undefined ? {} : { discard }),
  };
  const handle = await client.workflow.start<typeof divergentBlocksWorkflow>('divergentBlocksWorkflow', {
    workflowId: opts.workflowId ?? `divergent/${plan.runbook.name}/${randomUUID()}`,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args: [input],
    workflowExecutionTimeout: '15 minutes',
  });
  return handle.result();
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** The kept side files and the discards, as `divergent` and `status` print them. */
export function renderDivergent(a: DivergentAnswer): string[] {
  const lines = a.kept.map(
    (e) =>
      `  ${e.vm}: ${mib(e.bytes)} written at ${a.site} after point ${e.pointId ?? '(none)'}, kept by ${e.operationId} at ${e.createdAt} in ${e.dir} (${e.disks.map((d) => `${d.target}: ${d.extents} ranges`).join(', ')})`,
  );
  if (lines.length === 0) lines.push(`  none kept at ${a.site}`);
  for (const d of a.discarded)
    lines.push(
      `  discarded ${d.at} by ${d.by}: "${d.reason}" (${d.removed.map((r) => `${r.vm} ${mib(r.bytes)}`).join(', ') || 'nothing kept'})`,
    );
  return lines;
}

/** `lifeboat divergent <runbook>` and `lifeboat discard-divergent <runbook> --reason`. */
export function registerDivergent(program: Command): void {
  program
    .command('divergent')
    .description('list the blocks the old primary wrote after the common point, kept aside by reprotect')
    .argument('<file>', 'runbook file')
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { json?: boolean }) => {
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      await withTemporalClient(async (client) => {
        const a = await divergentBlocks(client, plan);
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(a, null, 2)}\n`
            : `divergent blocks of ${plan.runbook.name}:\n${renderDivergent(a).join('\n')}\n`,
        );
      }, flags);
    });
  program
    .command('discard-divergent')
    .description('remove the divergent blocks reprotect kept aside (recorded with who and why)')
    .argument('<file>', 'runbook file')
    .requiredOption('--reason <text>', 'why they may go (recorded)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { reason: string; json?: boolean }) => {
      if (flags.reason.trim() === '') {
        process.stderr.write('lifeboat: --reason must say why the divergent blocks may be discarded\n');
        process.exitCode = ExitCode.usage;
        return;
      }
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      await withTemporalClient(async (client) => {
        const by = `${userInfo().username}@${hostname()}`;
        const a = await divergentBlocks(client, plan, { by, reason: flags.reason });
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(a, null, 2)}\n`
            : `discarded; divergent blocks of ${plan.runbook.name}:\n${renderDivergent(a).join('\n')}\n`,
        );
      }, flags);
    });
}

/**
 * For `status`: the divergent blocks kept at the old primary of every runbook with a succeeded
 * reprotect among `rows` (its result names that site), asked of the site's worker within 5 s.
 */
export async function divergentStatus(
  client: Client,
  rows: ReadonlyArray<{
    workflowId: string;
    runbook: string | undefined;
    operation: string | undefined;
    status: string;
  }>,
): Promise<Array<{ runbook: string; answer?: DivergentAnswer; error?: string }>> {
  const newest = new Map<string, string>();
  for (const r of rows)
    if (r.operation === 'reprotect' && r.status === 'COMPLETED' && r.runbook && !newest.has(r.runbook))
      newest.set(r.runbook, r.workflowId);
  return Promise.all(
    [...newest].map(async ([runbook, id]) => {
      const within = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref(),
      );
      try {
        const result = await Promise.race([
          client.workflow.getHandle(id).result() as Promise<ReprotectResult>,
          within,
        ]);
        const input: DivergentInput = { runbook, site: result.to };
        const handle = await client.workflow.start<typeof divergentBlocksWorkflow>(
          'divergentBlocksWorkflow',
          {
            workflowId: `divergent/${runbook}/${randomUUID()}`,
            taskQueue: ORCHESTRATOR_TASK_QUEUE,
            args: [input],
            workflowExecutionTimeout: '1 minute',
          },
        );
        return { runbook, answer: await Promise.race([handle.result(), within]) };
      } catch (err) {
        return { runbook, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

export function renderDivergentStatus(rows: Awaited<ReturnType<typeof divergentStatus>>): string {
  if (rows.length === 0) return 'Divergent blocks: none kept (no reprotect)';
  const lines = rows.flatMap((r) =>
    r.answer
      ? [`  ${r.runbook}:`, ...renderDivergent(r.answer).map((l) => `  ${l}`)]
      : [`  ${r.runbook}: unknown (${r.error})`],
  );
  return `Divergent blocks (lifeboat discard-divergent <runbook> --reason removes them):\n${lines.join('\n')}`;
}
