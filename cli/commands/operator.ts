import { userInfo } from 'node:os';
import type { Command } from 'commander';
import {
  initOperatorKey,
  loadOperatorKey,
  type OperatorKey,
  OperatorKeyError,
  operatorDir,
} from '../../approvals/keys.ts';
import { ExitCode } from '../exit-codes.ts';
import { loadPlanForCommand } from '../load-plan.ts';
import { changePeople } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';
import { reasonAndKey } from './approve.ts';

/** The operator name used when `--name`/`--operator` is not given. */
export function defaultOperatorName(): string {
  return process.env.LIFEBOAT_OPERATOR ?? userInfo().username;
}

/** `lifeboat operator init [--name N]`: an Ed25519 key pair for signing gate decisions. */
/**
 * The operator's key when it is here; without one a decision goes unsigned, which only a runbook
 * that names no operators accepts.
 */
export async function optionalOperatorKey(name: string): Promise<OperatorKey | undefined> {
  return loadOperatorKey(name).catch((err: unknown) => {
    if (err instanceof OperatorKeyError) return undefined;
    throw err;
  });
}

export function registerOperator(program: Command): void {
  const operator = program.command('operator').description('operator keys for signed approvals');
  operator
    .command('init')
    .description(
      `create a key pair (private key under ${operatorDir()}, mode 0600) and print the public key line`,
    )
    .option('--name <name>', 'operator name, as written in runbooks', defaultOperatorName())
    .option('--json', 'machine-readable output')
    .action(async (flags: { name: string; json?: boolean }) => {
      try {
        const { path, publicKey } = await initOperatorKey(flags.name);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ name: flags.name, publicKey, keyFile: path })}\n`);
          return;
        }
        process.stderr.write(`private key written to ${path} (keep it; never commit it)\n`);
        process.stderr.write(
          `add this to the runbook's operators:\n  ${flags.name}:\n    key: "${publicKey}"\n`,
        );
        process.stdout.write(`${publicKey}\n`);
      } catch (err) {
        if (!(err instanceof OperatorKeyError)) throw err;
        process.stderr.write(`lifeboat: ${err.message} (${err.hint})\n`);
        process.exitCode = ExitCode.failed;
      }
    });
  operator
    .command('approve-change')
    .description(
      "sign a change of the runbook's pinned operators, roles or keys to those of <file> (needs an administering role of the pinned set)",
    )
    .argument('<file>', 'the runbook file whose people are to be pinned')
    .option('--reason <text>', 'why (required; recorded by the controller)')
    .option('--operator <name>', 'whose key signs', defaultOperatorName())
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { reason?: string; operator: string; json?: boolean }) => {
      const plan = await loadPlanForCommand(file);
      if (!plan) return;
      const signer = await reasonAndKey('approve-change', flags);
      if (!signer) return;
      await withTemporalClient(async (client) => {
        const change = await changePeople(client, { plan, ...signer });
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(change)}\n`
            : `people of ${plan.runbook.name} re-pinned ${change.from} -> ${change.to} by ${change.operator} (${change.role}): ${change.diff.join('; ')}\n`,
        );
      });
    });
}
