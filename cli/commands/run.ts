import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { parsePointSelector } from '../../restore/point-set.ts';
import { formatFinding, loadRunbook, type OperationKind } from '../../runbooks/index.ts';
import type { OperationResult } from '../../workflows/types.ts';
import { ExitCode } from '../exit-codes.ts';
import {
  cancelOperation,
  commitFailover,
  RequestRefusedError,
  runbookState,
  startOperation,
} from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';

/**
 * `lifeboat drill|failover|failback <runbook.yaml>`: compiles the runbook and asks its controller
 * to start the operation (refused, with the running operation's id, when it conflicts);
 * `lifeboat commit|cancel <runbook>` decide a failover awaiting commit or stop an operation.
 */
interface RunFlags {
  wait?: boolean;
  json?: boolean;
  bootConcurrency?: number;
  point?: string;
}

/** Who starts an operation, as the evidence records it: the OS user on this host. */
function requester(): string {
  return `${userInfo().username}@${hostname()}`;
}

function formatResult(id: string, r: OperationResult): string {
  const lines = [`${id}: ${r.outcome}${r.error ? ` (${r.error})` : ''}`];
  const fmt = (o: OperationResult['rto']) =>
    o === undefined
      ? ''
      : `${o.measuredMs === undefined ? 'not measured' : `${(o.measuredMs / 1000).toFixed(1)} s`} against ${(o.targetMs / 1000).toFixed(0)} s: ${o.pass === undefined ? '-' : o.pass ? 'met' : 'MISSED'}`;
  if (r.verdict !== undefined) {
    lines.push(`verdict: ${r.verdict.toUpperCase()}`);
    for (const why of r.verdictReasons ?? []) lines.push(`  - ${why}`);
    lines.push(`RTO: ${fmt(r.rto)}`, `RPO: ${fmt(r.rpo)}`);
  }
  if (r.evidencePath) lines.push(`evidence: ${r.evidencePath}`);
  return `${lines.join('\n')}\n`;
}

export function registerRun(program: Command): void {
  for (const kind of ['drill', 'failover', 'failback'] as const satisfies readonly OperationKind[]) {
    program
      .command(kind)
      .description(`start a ${kind} of the runbook through its controller`)
      .argument('<runbook>', 'runbook file')
      .option('--wait', 'wait for the operation to finish and print its outcome')
      .option('--boot-concurrency <n>', 'concurrent VM boots per site', (v) => Number.parseInt(v, 10))
      .option(
        '--point <point>',
        'recovery points to restore: latest, a point id, or an ISO time (newest at or before it)',
      )
      .option('--json', 'machine-readable output')
      .action(async (file: string, flags: RunFlags) => {
        if (flags.point !== undefined) {
          const p = parsePointSelector(flags.point);
          if (!p.ok) {
            process.stderr.write(`lifeboat: ${p.message}\n  hint: ${p.hint}\n`);
            process.exitCode = ExitCode.usage;
            return;
          }
        }
        const loaded = await loadRunbook(file);
        if (!loaded.plan) {
          for (const f of loaded.findings) process.stderr.write(`${formatFinding(f)}\n`);
          process.exitCode = ExitCode.failed;
          return;
        }
        const plan = loaded.plan;
        if (kind === 'drill' && !plan.drill) {
          process.stderr.write(
            `${file}: error: a drill needs a drill section with its isolated network, e.g.\n  drill:\n    network: bubble\n`,
          );
          process.exitCode = ExitCode.failed;
          return;
        }
        await withTemporalClient(async (client) => {
          const options = {
            ...(flags.bootConcurrency ? { bootConcurrency: flags.bootConcurrency } : {}),
            ...(flags.point !== undefined ? { point: flags.point } : {}),
          };
          const op = await startOperation(client, { plan, kind, options, requestedBy: requester() });
          if (!flags.wait) {
            process.stdout.write(flags.json ? `${JSON.stringify(op)}\n` : `${kind} started: ${op.id}\n`);
            return;
          }
          process.stderr.write(`${kind} started: ${op.id}; waiting (gates: lifeboat status)\n`);
          const result = await client.workflow
            .getHandle(op.id)
            .result()
            .then(
              (r: OperationResult) => r,
              (err: { cause?: { details?: unknown[]; message?: string } }) =>
                (err.cause?.details?.[0] as OperationResult | undefined) ?? {
                  id: op.id,
                  kind,
                  outcome: 'failed' as const,
                  groups: {},
                  decisions: [],
                  error: err.cause?.message,
                },
            );
          process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : formatResult(op.id, result));
          const passed = result.verdict === undefined || result.verdict === 'pass';
          process.exitCode = result.outcome === 'succeeded' && passed ? ExitCode.ok : ExitCode.failed;
        }, flags);
      });
  }
  for (const decision of ['commit', 'rollback'] as const) {
    program
      .command(decision === 'commit' ? 'commit' : 'rollback-failover')
      .description(
        decision === 'commit'
          ? 'commit a failover awaiting its commit'
          : 'roll back a failover awaiting its commit',
      )
      .argument('<runbook>', 'runbook name')
      .requiredOption('--reason <text>', 'why')
      .action(async (runbook: string, flags: { reason: string }) => {
        await withTemporalClient(async (client) => {
          const state = await runbookState(client, runbook);
          const op = state.inFlight.find((o) => o.kind === 'failover');
          if (!op)
            throw new RequestRefusedError(
              'NOT_WAITING_COMMIT',
              `no failover of ${runbook} is in flight`,
              undefined,
              {},
            );
          await commitFailover(client, { operationId: op.id, decision, reason: flags.reason });
          process.stdout.write(`${op.id}: ${decision}\n`);
        });
      });
  }
  program
    .command('cancel')
    .description('cancel an operation in flight; what it did is undone')
    .argument('<runbook>', 'runbook name')
    .argument('<operation>', 'operation id, e.g. runbook/payments/drill/3')
    .requiredOption('--reason <text>', 'why')
    .action(async (runbook: string, operationId: string, flags: { reason: string }) => {
      await withTemporalClient(async (client) => {
        await cancelOperation(client, { runbook, operationId, reason: flags.reason });
        process.stdout.write(`${operationId}: cancellation requested\n`);
      });
    });
}
