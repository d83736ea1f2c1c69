import { formatFinding, loadRunbook } from '../runbooks/index.ts';
import type { Plan } from '../runbooks/plan.ts';
import { ExitCode } from './exit-codes.ts';

/**
 * The runbook a command acts on, compiled: its findings go to stderr (file:line:col), and a
 * runbook with errors gives no Plan and exit code 1, so nothing is started from it.
 */
export async function loadPlanForCommand(file: string): Promise<Plan | undefined> {
  const loaded = await loadRunbook(file);
  for (const f of loaded.findings) process.stderr.write(`${formatFinding(f)}\n`);
  if (!loaded.plan) process.exitCode = ExitCode.failed;
  return loaded.plan;
}
