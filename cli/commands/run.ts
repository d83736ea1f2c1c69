import { hostname, userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { SiteInventory } from '../../drivers/inventory.ts';
import { domainSpecFromXml } from '../../drivers/libvirt/domain-xml.ts';
import { lifeboatHome } from '../../platform/home.ts';
import { ReplicaStore } from '../../replication/store.ts';
import { readReport } from '../../reports/store.ts';
import { failbackLines, failoverLines } from '../../reports/summary.ts';
import { choosePointSet, parsePointSelector, pointCandidate } from '../../restore/point-set.ts';
import type { OperationKind } from '../../runbooks/index.ts';
import type { Plan, SiteRole } from '../../runbooks/plan.ts';
import type { OperationResult } from '../../workflows/types.ts';
import { nameProblem, operationIdProblem, refuseArguments } from '../arguments.ts';
import { ExitCode } from '../exit-codes.ts';
import { type DryRunPoint, renderFailoverDryRun } from '../failover-dry-run.ts';
import { capacityAtSecondary, disasterGuard } from '../failover-guard.ts';
import { fetchInventories } from '../live.ts';
import { loadPlanForCommand } from '../load-plan.ts';
import { renderOutcome } from '../progress.ts';
import {
  cancelOperation,
  commitFailover,
  operationProgress,
  operationResult,
  RequestRefusedError,
  runbookState,
  startOperation,
} from '../runbook-client.ts';
import { terminalConfirm, watchOperation } from '../wait.ts';
import { withTemporalClient } from '../with-client.ts';
import { defaultOperatorName, optionalOperatorKey } from './operator.ts';
import { replicaRoot } from './points.ts';

/**
 * `lifeboat drill|failover|failback <runbook.yaml>`: compiles the runbook and asks its controller
 * to start the operation (refused, with the running operation's id, when it conflicts); with
 * `--wait`, shows its progress until it ends (cli/wait.ts) and exits 0 only if it succeeded;
 * `lifeboat commit|cancel <runbook>` decide a failover awaiting commit or stop an operation.
 */
interface RunFlags {
  wait?: boolean;
  json?: boolean;
  bootConcurrency?: number;
  point?: string;
  planned?: boolean;
  disaster?: boolean;
  yes?: boolean;
  shutdownTimeout?: string;
  dryRun?: boolean;
  acknowledgeFence?: string;
}

/** `--yes` given twice confirms a disaster failover of a primary that still answers. */
function yesCount(argv: readonly string[] = process.argv): number {
  return argv.filter((a) => a === '--yes').length;
}

/** Both sites' inventories through their workers (10 s each to pick up), or why not. */
async function inventoriesOrWhy(
  client: Client,
  plan: Plan,
): Promise<Record<SiteRole, SiteInventory> | string> {
  try {
    return await fetchInventories(client, plan, { scheduleToStartMs: 10_000 });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Reads the secondary's replica store (as `lifeboat points` does) and renders the dry run. */
async function failoverDryRun(
  plan: Plan,
  mode: 'planned' | 'disaster',
  point: string,
): Promise<{ lines: string[]; needMiB: number }> {
  const store = new ReplicaStore(replicaRoot(plan));
  const vms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
  const byVm = new Map<string, DryRunPoint[]>();
  for (const vm of vms) {
    const ms = (await store.listPoints(vm).catch(() => [])).filter((m) => m.runbook === plan.runbook.name);
    byVm.set(
      vm,
      ms.map((m) => ({ ...pointCandidate(vm, m), memoryMiB: domainSpecFromXml(m.domain.xml).memoryMiB })),
    );
  }
  const selector = parsePointSelector(point);
  const choice = selector.ok
    ? choosePointSet(vms, byVm, selector.selector)
    : { ok: false as const, message: selector.message, hint: selector.hint };
  const needMiB = choice.ok ? choice.points.reduce((n, p) => n + p.memoryMiB, 0) : 0;
  return { lines: renderFailoverDryRun(plan, mode, choice, Date.now()), needMiB };
}

/** One line typed at the terminal (empty when stdin is not one). */
async function askLine(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return '';
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}

/**
 * A failover's or failback's facts (downtime, records lost, ...) from its signed report, when
 * this host holds it; nothing otherwise (the outcome already says where the report is).
 */
async function reportFacts(result: OperationResult): Promise<string[]> {
  if (!result.report) return [];
  const stored = await readReport(lifeboatHome(), result.report.id).catch(() => undefined);
  const ev = stored?.envelope.evidence;
  if (ev?.failover) return failoverLines(ev.failover);
  return ev?.failback ? failbackLines(ev.failback) : [];
}

/** Who starts an operation, as the evidence records it: the OS user on this host. */
function requester(): string {
  return `${userInfo().username}@${hostname()}`;
}

export function registerRun(program: Command): void {
  for (const kind of ['drill', 'failover', 'failback'] as const satisfies readonly OperationKind[]) {
    const cmd = program.command(kind);
    if (kind === 'failover') {
      cmd
        .option('--planned', 'planned migration: shut the primary down, replicate a last time, no data lost')
        .option('--disaster', 'the primary is gone: restore the newest committed point set')
        .option('--shutdown-timeout <seconds>', 'planned: seconds a primary VM may take to stop cleanly')
        .option('--yes', 'do not ask for the runbook name (disaster); twice: fence a primary that answers')
        .option(
          '--acknowledge-fence <reason>',
          'disaster with a primary that answers and is not fenced: fence it anyway, for this reason',
        )
        .option('--dry-run', 'print what would happen (points, order, gates, capacity) and change nothing');
    }
    if (kind === 'failback')
      cmd.option('--shutdown-timeout <seconds>', 'seconds a VM at the secondary may take to stop cleanly');
    cmd
      .description(`start a ${kind} of the runbook through its controller`)
      .argument('<runbook>', 'runbook file')
      .option('--wait', 'show progress until the operation ends, then its outcome (Ctrl-C offers to cancel)')
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
        const plan = await loadPlanForCommand(file);
        if (!plan) return;
        if (kind === 'failover' && Boolean(flags.planned) === Boolean(flags.disaster)) {
          process.stderr.write('lifeboat: failover needs exactly one of --planned or --disaster\n');
          process.exitCode = ExitCode.usage;
          return;
        }
        if (kind === 'failover' && flags.dryRun) {
          const mode = flags.disaster ? 'disaster' : 'planned';
          const { lines, needMiB } = await failoverDryRun(plan, mode, flags.point ?? 'latest');
          // The capacity against the secondary's real inventory (read by its worker; changes nothing).
          await withTemporalClient(async (client) => {
            const inv = await inventoriesOrWhy(client, plan);
            const capacity =
              typeof inv === 'string'
                ? [`capacity at ${plan.sites.secondary.name}: not checked (${inv})`]
                : capacityAtSecondary(plan, needMiB, inv.secondary).lines;
            process.stdout.write(`${[...lines, '', ...capacity].join('\n')}\n`);
          }, flags);
          return;
        }
        if (kind === 'failover' && flags.disaster && !flags.yes) {
          const typed = await askLine(
            `type the runbook's name (${plan.runbook.name}) to fail over in disaster mode: `,
          );
          if (typed !== plan.runbook.name) {
            process.stderr.write('lifeboat: not confirmed; nothing was started\n');
            process.exitCode = ExitCode.usage;
            return;
          }
        }
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
            ...(kind === 'failover'
              ? { mode: flags.disaster ? ('disaster' as const) : ('planned' as const) }
              : {}),
            ...(flags.shutdownTimeout !== undefined
              ? { shutdownDeadlineMs: Number.parseInt(flags.shutdownTimeout, 10) * 1000 }
              : {}),
          };
          if (kind === 'failover' && flags.disaster) {
            const inv = await inventoriesOrWhy(client, plan);
            const fenced = await runbookState(client, plan.runbook.name).then(
              (st) => st.fence?.site === 'primary',
              () => false,
            );
            const guard =
              typeof inv === 'string'
                ? ({ ok: true, warning: `the primary's state is unknown (${inv})` } as const)
                : disasterGuard({
                    plan,
                    primary: inv.primary,
                    fenced,
                    yesCount: yesCount(),
                    ...(flags.acknowledgeFence !== undefined ? { fenceAck: flags.acknowledgeFence } : {}),
                  });
            if (!guard.ok) {
              process.stderr.write(`lifeboat: ${guard.message}\n  hint: ${guard.hint}\n`);
              process.exitCode = ExitCode.usage;
              return;
            }
            if (guard.warning) process.stderr.write(`lifeboat: warning: ${guard.warning}\n`);
          }
          const op = await startOperation(client, { plan, kind, options, requestedBy: requester() });
          if (!flags.wait) {
            process.stdout.write(flags.json ? `${JSON.stringify(op)}\n` : `${kind} started: ${op.id}\n`);
            return;
          }
          // Redrawn on stdout when it is a terminal; otherwise events on stderr, so stdout holds
          // the outcome alone, as scripts expect.
          const live = Boolean(process.stdout.isTTY && !flags.json);
          const out = live ? process.stdout : process.stderr;
          process.stderr.write(`${kind} started: ${op.id}; waiting (Ctrl-C to cancel)\n`);
          const result = operationResult(client, { id: op.id, kind, runbook: plan.runbook.name });
          const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY);
          const end = await watchOperation({
            operationId: op.id,
            progress: () => operationProgress(client, op.id),
            result,
            cancel: async (reason) => {
              // Ctrl-C: signed by the operator running the command when their key is here.
              const user = defaultOperatorName();
              const key = await optionalOperatorKey(user);
              await cancelOperation(client, {
                runbook: plan.runbook.name,
                operationId: op.id,
                reason,
                ...(key ? { key } : { by: user }),
              });
            },
            out,
            live,
            confirm: interactive ? terminalConfirm(process.stdin, out) : undefined,
            user: defaultOperatorName(),
            signals: process,
          });
          if (!('result' in end)) {
            process.exitCode = ExitCode.failed;
            return;
          }
          const lines = flags.json ? [] : [...renderOutcome(end.result), ...(await reportFacts(end.result))];
          process.stdout.write(flags.json ? `${JSON.stringify(end.result)}\n` : `${lines.join('\n')}\n`);
          // A drill that ran but missed its objectives or its proof did not pass.
          const passed = end.result.verdict === undefined || end.result.verdict === 'pass';
          process.exitCode = end.result.outcome === 'succeeded' && passed ? ExitCode.ok : ExitCode.failed;
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
      .option(
        '--operator <name>',
        'whose key signs (a runbook that names operators takes only a signed decision)',
        defaultOperatorName(),
      )
      .action(async (runbook: string, flags: { reason: string; operator: string }) => {
        if (refuseArguments(nameProblem('runbook name', runbook))) return;
        const key = await optionalOperatorKey(flags.operator);
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
          const r = await commitFailover(client, {
            operationId: op.id,
            decision,
            reason: flags.reason,
            ...(key ? { key } : { by: flags.operator }),
          });
          process.stdout.write(
            `${op.id}: ${decision}${r.operator ? ` signed by ${r.operator} (${r.role})` : ''}\n`,
          );
        });
      });
  }
  program
    .command('cancel')
    .description('cancel an operation in flight; what it did is undone')
    .argument('<runbook>', 'runbook name')
    .argument('<operation>', 'operation id, e.g. runbook/payments/drill/3')
    .requiredOption('--reason <text>', 'why')
    .option(
      '--operator <name>',
      'whose key signs (a runbook that names operators takes only a signed cancel)',
      defaultOperatorName(),
    )
    .action(async (runbook: string, operationId: string, flags: { reason: string; operator: string }) => {
      if (refuseArguments(nameProblem('runbook name', runbook), operationIdProblem(runbook, operationId)))
        return;
      const key = await optionalOperatorKey(flags.operator);
      await withTemporalClient(async (client) => {
        const r = await cancelOperation(client, {
          runbook,
          operationId,
          reason: flags.reason,
          ...(key ? { key } : { by: flags.operator }),
        });
        const signedBy = r.decision?.signature
          ? ` (signed by ${r.decision.operator}, ${r.decision.role})`
          : '';
        process.stdout.write(
          r.ended
            ? `${operationId}: nothing to cancel, it had already ended: ${r.ended.reason}\n`
            : `${operationId}: cancellation requested${signedBy}\n`,
        );
      });
    });
}
