import type { Command } from 'commander';
import { loadOperatorKey, type OperatorKey, OperatorKeyError } from '../../approvals/keys.ts';
import type { GateDecision } from '../../approvals/payload.ts';
import { nameProblem, refuseArguments } from '../arguments.ts';
import { ExitCode } from '../exit-codes.ts';
import { decideGate } from '../runbook-client.ts';
import { withTemporalClient } from '../with-client.ts';
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
      .action((runbook: string, flags: DecideFlags) =>
        refuseArguments(nameProblem('runbook name', runbook)) ? undefined : decide(decision, runbook, flags),
      );
  }
}

/**
 * The reason and the operator's key a signed decision needs, or undefined after saying what is
 * missing (exit code set). The key first: a missing one is the operator's to fix, with no server
 * to start for it.
 */
export async function reasonAndKey(
  verb: string,
  flags: { reason?: string; operator: string },
): Promise<{ reason: string; key: OperatorKey } | undefined> {
  const reason = flags.reason;
  if (!reason || reason.trim() === '') {
    process.stderr.write(`lifeboat: ${verb} needs --reason "why"\n`);
    process.exitCode = ExitCode.usage;
    return undefined;
  }
  try {
    return { reason, key: await loadOperatorKey(flags.operator) };
  } catch (err) {
    if (!(err instanceof OperatorKeyError)) throw err;
    process.stderr.write(`lifeboat: ${err.message} (${err.hint})\n`);
    process.exitCode = ExitCode.failed;
    return undefined;
  }
}

async function decide(decision: GateDecision, runbook: string, flags: DecideFlags): Promise<void> {
  const signer = await reasonAndKey(decision, flags);
  if (!signer) return;
  await withTemporalClient(async (client) => {
    const record = await decideGate(client, { runbook, stepId: flags.step, decision, ...signer });
    process.stdout.write(
      flags.json
        ? `${JSON.stringify(record)}\n`
        : `${record.stepId}: ${record.decision} by ${record.operator} (${record.role}) recorded at ${record.recordedAt}\n`,
    );
  });
}
