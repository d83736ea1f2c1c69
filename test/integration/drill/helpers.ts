/** Shared by the drill tests on the real lab. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startOperation } from '../../../cli/runbook-client.ts';
import { hostUri } from '../../../lab/config.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import type { CycleLab } from '../replication-cycle/harness.ts';

const pexec = promisify(execFile);
/** The VM under test; the fault tests use the same name, one file at a time. */
export const VM = 'drl-db';
export const CHECKS = `    onFailure: rollback
    checks:
      - serial: { pattern: "LIFEBOAT-READY vm=${VM}", within: 2m }
      - agent: { command: [/health.sh], expect: "LIFEBOAT-HEALTH", within: 2m }
      - tcp: { port: 8080, within: 2m }
      - data: {}
`;

/** sha256 of every file under the VM's replica directory (host view), by relative path. */
export function replicaDigests(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(root, { recursive: true }) as string[]) {
    const file = path.join(root, rel);
    if (statSync(file).isFile()) out[rel] = createHash('sha256').update(readFileSync(file)).digest('hex');
  }
  return out;
}

export async function secondaryDomains(): Promise<string[]> {
  const { stdout } = await pexec('virsh', ['-c', hostUri('secondary'), 'list', '--all', '--name']);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

export async function drill(lab: CycleLab, plan: Plan, point?: string): Promise<OperationResult> {
  const op = await startOperation(lab.client, {
    plan,
    kind: 'drill',
    options: point ? { point } : {},
    requestedBy: 'drill-test',
  });
  return lab.client.workflow
    .getHandle(op.id)
    .result()
    .then(
      (r: OperationResult) => r,
      (err: { cause?: { details?: unknown[] } }) => err.cause?.details?.[0] as OperationResult,
    );
}
