/**
 * Checks that a recovered VM works, polled until the check's `within` runs out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { SiteDriver } from '../drivers/types.ts';
import type { PlanCheck } from '../runbooks/plan.ts';
import { toFailure } from './vm.ts';

/** How a site reaches a guest for `tcp`/`http` checks (the driver knows the guest's address). */
export interface CheckProbes {
  tcp(vm: string, port: number, opts: { timeoutMs: number }): Promise<{ open: boolean; detail: string }>;
  http(vm: string, port: number, path: string, opts: { timeoutMs: number }): Promise<{ status: number }>;
}

export interface CheckInput {
  operationId: string;
  check: PlanCheck;
  vm: string;
}

export interface CheckResult {
  checkId: string;
  vm: string;
  outcome: 'passed' | 'skipped';
  detail: string;
  attempts: number;
}

const POLL_MS = 1_000;

export async function runCheck(
  driver: SiteDriver,
  probes: CheckProbes,
  input: CheckInput,
): Promise<CheckResult> {
  const { check, vm } = input;
  if (check.kind === 'data') {
    // Comparing data needs what the recovery point recorded; that arrives with replication.
    return {
      checkId: check.id,
      vm,
      outcome: 'skipped',
      detail: 'data checks need recovery points',
      attempts: 0,
    };
  }
  const deadline = Date.now() + check.withinMs;
  let attempts = 0;
  let last = '';
  for (;;) {
    attempts++;
    Context.current().heartbeat({ attempts });
    const remaining = Math.max(1, deadline - Date.now());
    try {
      const r = await attempt(driver, probes, check, vm, remaining);
      if (r.ok) return { checkId: check.id, vm, outcome: 'passed', detail: r.detail, attempts };
      last = r.detail;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      const f = toFailure(err);
      if (f instanceof ApplicationFailure && f.nonRetryable) throw f;
    }
    if (Date.now() + POLL_MS >= deadline) break;
    await sleep(POLL_MS);
  }
  throw ApplicationFailure.create({
    type: 'CHECK_FAILED',
    message: `check ${check.id} on ${vm} did not pass within ${check.withinMs} ms: ${last}`,
    nonRetryable: true,
    details: [{ check: check.id, vm, attempts, last }],
  });
}

async function attempt(
  driver: SiteDriver,
  probes: CheckProbes,
  check: Exclude<PlanCheck, { kind: 'data' }>,
  vm: string,
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string }> {
  switch (check.kind) {
    case 'agent': {
      const r = await driver.agentExec(vm, check.command, { timeoutMs });
      const ok = r.exitCode === 0 && r.stdout.includes(check.expect);
      return { ok, detail: `exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}` };
    }
    case 'serial': {
      // Only output of the VM's current run counts: an appended log still holds the ready
      // lines of earlier boots. The offset is read from the running domain on every attempt,
      // so a retry after a crash, or a restart in between, still starts at the current run.
      const fromOffset = await driver.serialRunOffset(vm);
      const r = await driver.waitSerial(vm, check.pattern, {
        timeoutMs,
        ...(fromOffset === undefined ? {} : { fromOffset }),
      });
      return { ok: true, detail: r.line };
    }
    case 'tcp': {
      const r = await probes.tcp(vm, check.port, { timeoutMs });
      return { ok: r.open, detail: r.detail };
    }
    case 'http': {
      const r = await probes.http(vm, check.port, check.path, { timeoutMs });
      return { ok: r.status === check.expect, detail: `HTTP ${r.status} (expected ${check.expect})` };
    }
  }
}
