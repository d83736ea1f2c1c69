/**
 * Checks that a recovered VM works, polled until the check's `within` runs out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { SiteDriver } from '../drivers/types.ts';
import type { CapturedCommand } from '../replication/manifest.ts';
import { compareCommandOutput, recordedOutput } from '../restore/command-check.ts';
import { checkRestoredRecords, type ExpectedRecord } from '../restore/data-check.ts';
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
  /** The VM's domain name at this site when it differs (a drill's copy). */
  domain?: string;
  /** For `data` checks: what the restored point holds, and when the copy was started. */
  data?: { records: ExpectedRecord[]; writtenBeforeMs: number; commands?: CapturedCommand[] };
}

export interface CheckResult {
  checkId: string;
  vm: string;
  outcome: 'passed' | 'skipped';
  detail: string;
  attempts: number;
}

// Short enough that a check passes within a fraction of a second of the guest being ready.
const POLL_MS = 500;
const MIN_ATTEMPT_MS = 1_000;

export async function runCheck(
  driver: SiteDriver,
  probes: CheckProbes,
  input: CheckInput,
): Promise<CheckResult> {
  const { check } = input;
  const vm = input.domain ?? input.vm;
  if (check.kind === 'data' && !input.data) {
    // Only an operation that restored a point knows what the data must be.
    return {
      checkId: check.id,
      vm: input.vm,
      outcome: 'skipped',
      detail: 'no recovery point was restored: nothing to compare the data with',
      attempts: 0,
    };
  }
  const deadline = Date.now() + check.withinMs;
  let attempts = 0;
  // What the check last answered outranks an error of a later attempt: an attempt cut short by
  // the end of the budget says less than the output that failed before it.
  let answered = '';
  let errored = '';
  let settled = false;
  for (;;) {
    attempts++;
    Context.current().heartbeat({ attempts });
    const remaining = Math.max(1, deadline - Date.now());
    try {
      const r = await attempt(driver, probes, input, vm, remaining);
      if (r.ok) return { checkId: check.id, vm: input.vm, outcome: 'passed', detail: r.detail, attempts };
      answered = r.detail;
      // A data mismatch read through a working agent will not change by waiting.
      if (r.final) {
        settled = true;
        break;
      }
    } catch (err) {
      errored = err instanceof Error ? err.message : String(err);
      const f = toFailure(err);
      if (f instanceof ApplicationFailure && f.nonRetryable) throw f;
    }
    // An attempt started with less than MIN_ATTEMPT_MS left would only time out.
    if (Date.now() + POLL_MS + MIN_ATTEMPT_MS >= deadline) break;
    await sleep(POLL_MS);
  }
  const last = answered || errored;
  throw ApplicationFailure.create({
    type: 'CHECK_FAILED',
    message: settled
      ? `check ${check.id} on ${input.vm} failed: ${last}`
      : `check ${check.id} on ${input.vm} did not pass within ${check.withinMs} ms: ${last}`,
    nonRetryable: true,
    details: [{ check: check.id, vm: input.vm, domain: vm, attempts, last }],
  });
}

async function attempt(
  driver: SiteDriver,
  probes: CheckProbes,
  input: CheckInput,
  vm: string,
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string; final?: boolean }> {
  const check = input.check;
  switch (check.kind) {
    case 'data': {
      const data = input.data as NonNullable<CheckInput['data']>;
      if (check.command !== undefined) {
        const argv = check.command;
        const recorded = recordedOutput(data.commands, argv);
        // Nothing to compare with: running the command in the copy would prove nothing.
        if (!recorded.captured)
          return { ok: false, detail: compareCommandOutput(recorded).output, final: true };
        const now = await driver.agentExec(vm, argv, { timeoutMs: Math.min(timeoutMs, 60_000) });
        const r = compareCommandOutput(recorded, now);
        return { ok: r.ok, detail: r.output, final: true };
      }
      const r = await checkRestoredRecords(
        (target, offset, length) => driver.agentReadFile(vm, `/dev/${target}`, offset, length),
        data.records,
        data.writtenBeforeMs,
      );
      return { ok: r.ok, detail: r.output, final: true };
    }
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
      if (input.domain) return insideCopy(driver, vm, ['nc', '-w', '3'], check.port, timeoutMs);
      const r = await probes.tcp(vm, check.port, { timeoutMs });
      return { ok: r.open, detail: r.detail };
    }
    case 'http': {
      if (input.domain) {
        const r = await insideCopy(
          driver,
          vm,
          ['wget', '-q', '-S', '-O', '/dev/null', '-T', '3'],
          check.port,
          timeoutMs,
          check.path,
        );
        const status = Number(/HTTP\/[\d.]+ (\d{3})/.exec(r.detail)?.[1] ?? 0);
        return {
          ok: status === check.expect,
          detail: `HTTP ${status} (expected ${check.expect}); ${r.detail}`,
        };
      }
      const r = await probes.http(vm, check.port, check.path, { timeoutMs });
      return { ok: r.status === check.expect, detail: `HTTP ${r.status} (expected ${check.expect})` };
    }
  }
}

/**
 * A tcp/http check of a drill copy, run from inside it through its guest agent against its own
 * production address: the bubble it runs on has, by design, no route from the site's worker.
 */
async function insideCopy(
  driver: SiteDriver,
  domain: string,
  tool: string[],
  port: number,
  timeoutMs: number,
  path?: string,
): Promise<{ ok: boolean; detail: string }> {
  const addr = (await driver.vmAddresses(domain)).find((a) => a.family === 'ipv4')?.address;
  if (addr === undefined) return { ok: false, detail: 'the copy reports no IPv4 address yet' };
  const argv =
    path === undefined ? [...tool, addr, String(port)] : [...tool, `http://${addr}:${port}${path}`];
  const r = await driver.agentExec(domain, argv, { timeoutMs: Math.min(timeoutMs, 15_000) });
  const out = `${r.stdout}${r.stderr}`.trim().slice(0, 300);
  return {
    ok: r.exitCode === 0,
    detail: `from inside the copy: ${argv.join(' ')} exited ${r.exitCode}${out ? `: ${out}` : ''}`,
  };
}
