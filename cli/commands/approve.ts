import type { Command } from 'commander';
import { loadOperatorKey, OperatorKeyError } from '../../approvals/keys.ts';
import type { GateDecision } from '../../approvals/payload.ts';
import { connectClient } from '../../platform/connection.ts';
import { PlatformError } from '../../platform/errors.ts';
import { ExitCode } from '../exit-codes.ts';
import { decideGate, RequestRefusedError } from '../runbook-client.ts';
import { defaultOperatorName } from './operator.ts';

interface DecideFlags {
  step: string;
  reason?: string;
  operator: string;
  json?: boolean;
}

/** `lifeboat approve|reject <runbook> --step <id> --reason "..."`: a signed gate decision. */
export function registerApprove(program: Command): void {
  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(`${decision} a gate waiting in the runbook's operation, signed with your operator key`)
      .argument('<runbook>', 'runbook name')
      .requiredOption('--step <id>', 'the gate step id, e.g. web/before/0 (see lifeboat status)')
      .option('--reason <text>', 'why (required; recorded in the report)')
      .option('--operator <name>', 'whose key signs', defaultOperatorName())
      .option('--json', 'machine-readable output')
      .action((runbook: string, flags: DecideFlags) => decide(decision, runbook, flags));
  }
}

async function decide(decision: GateDecision, runbook: string, flags: DecideFlags): Promise<void> {
  if (!flags.reason || flags.reason.trim() === '') {
    process.stderr.write(`lifeboat: ${decision} needs --reason "why"\n`);
    process.exitCode = ExitCode.usage;
    return;
  }
  let connection: Awaited<ReturnType<typeof connectClient>>['connection'] | undefined;
  try {
    const key = await loadOperatorKey(flags.operator);
    const connected = await connectClient();
    connection = connected.connection;
    const record = await decideGate(connected.client, {
      runbook,
      stepId: flags.step,
      decision,
      reason: flags.reason,
      key,
    });
    process.stdout.write(
      flags.json
        ? `${JSON.stringify(record)}\n`
        : `${record.stepId}: ${record.decision} by ${record.operator} (${record.role}) recorded at ${record.recordedAt}\n`,
    );
  } catch (err) {
    if (err instanceof RequestRefusedError) {
      process.stderr.write(
        `lifeboat: refused (${err.code}): ${err.message}${err.hint ? ` (${err.hint})` : ''}\n`,
      );
      process.exitCode = ExitCode.failed;
    } else if (err instanceof OperatorKeyError) {
      process.stderr.write(`lifeboat: ${err.message} (${err.hint})\n`);
      process.exitCode = ExitCode.failed;
    } else if (err instanceof PlatformError) {
      process.stderr.write(`lifeboat: ${err.describe()}\n`);
      process.exitCode = ExitCode.unavailable;
    } else throw err;
  } finally {
    await connection?.close();
  }
}
