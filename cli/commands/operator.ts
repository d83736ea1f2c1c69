import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { initOperatorKey, OperatorKeyError, operatorDir } from '../../approvals/keys.ts';
import { ExitCode } from '../exit-codes.ts';

/** The operator name used when `--name`/`--operator` is not given. */
export function defaultOperatorName(): string {
  return process.env.LIFEBOAT_OPERATOR ?? userInfo().username;
}

/** `lifeboat operator init [--name N]`: an Ed25519 key pair for signing gate decisions. */
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
}
