import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { type Command, InvalidArgumentError } from 'commander';
import { protectionScheduleId, triggerProtection } from '../../platform/protection.ts';
import type { Plan } from '../../runbooks/plan.ts';
import { startOperationUpdate } from '../../workflows/messages.ts';
import type { ReplicationCycleResult } from '../../workflows/replication.ts';
import type { StartOperationResult } from '../../workflows/types.ts';
import { ExitCode } from '../exit-codes.ts';
import { loadPlanForCommand } from '../load-plan.ts';
import { controllerStart, runbookState } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';

interface ReplicateFlags {
  wait?: boolean;
  json?: boolean;
  maxTransfers?: number;
}

export type ReplicationAdmission =
  | { admitted: true; id: string }
  | { admitted: false; code: string; message: string; hint?: string; conflictsWith?: string };

/**
 * Asks the runbook's controller for one replication cycle (starting the controller on first
 * use). A cycle already in flight makes the controller refuse: requests are not coalesced.
 */
export async function requestReplication(
  client: Client,
  plan: Plan,
  opts: { maxConcurrentTransfers?: number; taskQueue?: string } = {},
): Promise<ReplicationAdmission> {
  const runbook = plan.runbook.name;
  const start = controllerStart(runbook, opts.taskQueue, plan);
  try {
    const r: StartOperationResult = await client.workflow.executeUpdateWithStart(startOperationUpdate, {
      args: [
        {
          kind: 'replication',
          plan,
          ...(opts.maxConcurrentTransfers
            ? { options: { maxConcurrentTransfers: opts.maxConcurrentTransfers } }
            : {}),
        },
      ],
      startWorkflowOperation: start,
    });
    return { admitted: true, id: r.id };
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure)) throw err;
    const details = (cause.details?.[0] ?? {}) as { hint?: string; conflictsWith?: { id?: string } };
    return {
      admitted: false,
      code: cause.type ?? 'REFUSED',
      message: cause.message,
      ...(details.hint ? { hint: details.hint } : {}),
      ...(details.conflictsWith?.id ? { conflictsWith: details.conflictsWith.id } : {}),
    };
  }
}

/**
 * Triggers the runbook's replication Schedule when it is protected (undefined when it is not).
 * With `wait`, finds the cycle the triggered action was admitted as; without, says it was
 * triggered (`admitted: false` with the message, which is not a refusal).
 */
async function triggerScheduledCycle(
  client: Client,
  runbook: string,
  wait: boolean,
): Promise<ReplicationAdmission | undefined> {
  const before = await runbookState(client, runbook).then(
    (s) => s.counters.replication ?? 0,
    () => 0,
  );
  if (!(await triggerProtection(client, runbook, 'replication'))) return undefined;
  const message = `${protectionScheduleId(runbook, 'replication')} runs its action now`;
  if (!wait) return { admitted: false, code: 'TRIGGERED', message };
  for (let i = 0; i < 600; i++) {
    const s = await runbookState(client, runbook).catch(() => undefined);
    const op = s?.inFlight.find((o) => o.kind === 'replication');
    const n = s?.counters.replication ?? 0;
    if (n > before) {
      const id = op?.id ?? [...(s?.recent ?? [])].reverse().find((r) => r.kind === 'replication')?.id;
      if (id) return { admitted: true, id };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    admitted: false,
    code: 'TRIGGERED',
    message: `${message}; its cycle did not start within 5 minutes`,
  };
}

function mib(n: number | undefined): string {
  return n === undefined ? '-' : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function renderCycle(r: ReplicationCycleResult): string {
  const lines = [`cycle ${r.id}: ${r.outcome}`];
  for (const v of r.vms) {
    if (v.outcome === 'committed') {
      lines.push(
        `  ${v.vm}: point ${v.pointId} committed, ${v.kind}, ${v.consistency?.achieved ?? '?'}-consistent, ${mib(v.bytesShipped)} shipped, ${mib(v.bytesReceived)} on the link`,
      );
      if (v.fullReason) lines.push(`    full copy: ${v.fullReason}`);
      if (v.resync)
        lines.push(
          `    resync: ${v.resync.reason}; ${v.resync.blocksShipped} of ${v.resync.blocksCompared} blocks differed and were shipped`,
        );
      if (v.consistency?.reason) lines.push(`    consistency: ${v.consistency.reason}`);
    } else {
      lines.push(`  ${v.vm}: no point (${v.error ?? 'failed'})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `lifeboat replicate <runbook>`: one replication cycle for every VM of the runbook. */
export function registerReplicate(program: Command): void {
  program
    .command('replicate')
    .description('run one replication cycle for every VM of the runbook (admitted by its controller)')
    .argument('<file>', 'runbook file')
    .option('--wait', 'wait for the cycle and print each VM’s point')
    .option('--json', 'machine-readable output')
    .option('--max-transfers <n>', 'VMs moving data at the same time', (v) => {
      const n = Number.parseInt(v, 10);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
      return n;
    })
    .action(async (file: string, flags: ReplicateFlags) => {
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      await withTemporalClient(async (client) => {
        // A protected runbook: the Schedule's action runs now (one buffered behind a running cycle).
        const a = flags.maxTransfers
          ? undefined
          : await triggerScheduledCycle(client, plan.runbook.name, !!flags.wait);
        if (a && !a.admitted) {
          process.stdout.write(
            flags.json ? `${JSON.stringify(a)}\n` : `protection schedule triggered: ${a.message}\n`,
          );
          return;
        }
        const b =
          a ??
          (await requestReplication(client, plan, {
            ...(flags.maxTransfers ? { maxConcurrentTransfers: flags.maxTransfers } : {}),
          }));
        if (!b.admitted) {
          if (flags.json) process.stdout.write(`${JSON.stringify(b, null, 2)}\n`);
          else
            process.stderr.write(
              `lifeboat: refused (not coalesced): ${b.message}${b.hint ? `\n  hint: ${b.hint}` : ''}\n`,
            );
          process.exitCode = b.code === 'CONFLICT' ? ExitCode.conflict : ExitCode.failed;
          return;
        }
        if (!flags.wait) {
          process.stdout.write(flags.json ? `${JSON.stringify(b)}\n` : `replication cycle ${b.id} started\n`);
          return;
        }
        const result = (await client.workflow.getHandle(b.id).result()) as ReplicationCycleResult;
        process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderCycle(result));
        if (result.outcome !== 'succeeded') process.exitCode = ExitCode.failed;
      });
    });
}
