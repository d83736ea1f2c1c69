/**
 * Checks on the real lab, the way the owning site's worker runs them: site activities with the
 * real libvirt driver and the default probes, in a process inside the primary site's network
 * and mount namespaces (site-runner.ts). Each kind passes on a healthy VM and fails, with the
 * reason in the error, when the port, status or pattern is wrong.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, VmActionResult } from '../../../activities/index.ts';
import { siteCommand } from '../../../lab/exec.ts';
import type { PlanCheck } from '../../../runbooks/plan.ts';
import { ensureFreshLab } from '../../support/lab.ts';
import type { RunnerResult, RunnerStep } from './site-runner.ts';

const pexec = promisify(execFile);
const RUNNER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'site-runner.ts');
// nsenter's mount namespace starts at '/', so the loader and the runner go by absolute location.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

async function inPrimary(steps: RunnerStep[]): Promise<RunnerResult[]> {
  const [file, ...args] = siteCommand('primary', [
    process.execPath,
    '--import',
    TSX,
    RUNNER,
    JSON.stringify({ steps }),
  ]);
  const { stdout } = await pexec(file!, args, { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
  const results = JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as RunnerResult[];
  expect(results).toHaveLength(steps.length);
  return results;
}

type CheckSpec = PlanCheck extends infer C ? (C extends unknown ? Omit<C, 'group'> : never) : never;

/** A Plan check of the group its id names (`app/check/0` is of group `app`). */
function check(vm: string, c: CheckSpec): RunnerStep {
  const group = c.id.split('/')[0] ?? '';
  return { do: 'runCheck', input: { operationId: 'checks-test', vm, check: { ...c, group } as PlanCheck } };
}

function passed(r: RunnerResult | undefined): CheckResult {
  if (!r?.ok) throw new Error(`expected a pass, got ${JSON.stringify(r)}`);
  const v = r.value as CheckResult;
  expect(v.outcome).toBe('passed');
  return v;
}

function failed(r: RunnerResult | undefined): { type: string; message: string } {
  if (!r || r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r;
}

describe('checks through the libvirt driver on the primary site', () => {
  beforeAll(async () => {
    await ensureFreshLab();
  });

  it('tcp: 8080 accepts; a closed port fails with the refusal', async () => {
    const [ok, closed] = await inPrimary([
      check('app-1', { id: 'app/check/0', kind: 'tcp', port: 8080, withinMs: 30_000 }),
      check('app-1', { id: 'app/check/1', kind: 'tcp', port: 8099, withinMs: 3_000 }),
    ]);
    expect(passed(ok).detail).toMatch(/^192\.168\.100\.11:8080 accepted/);
    const f = failed(closed);
    expect(f.type).toBe('CHECK_FAILED');
    expect(f.message).toContain('192.168.100.11:8099 ECONNREFUSED');
  });

  it('agent: the health command passes; output that never comes fails with what came', async () => {
    const [ok, wrong] = await inPrimary([
      check('db-1', {
        id: 'database/check/1',
        kind: 'agent',
        command: ['/health.sh'],
        expect: 'LIFEBOAT-HEALTH',
        withinMs: 30_000,
      }),
      check('db-1', {
        id: 'database/check/9',
        kind: 'agent',
        command: ['/health.sh'],
        expect: 'NEVER-SAID',
        withinMs: 3_000,
      }),
    ]);
    expect(passed(ok).detail).toMatch(/^exit 0, stdout "LIFEBOAT-HEALTH vm=db-1/);
    const f = failed(wrong);
    expect(f.type).toBe('CHECK_FAILED');
    expect(f.message).toMatch(/did not pass within 3000 ms: exit 0, stdout "LIFEBOAT-HEALTH vm=db-1/);
  });

  it('http: the status is read from a real server; a wrong expectation or a non-HTTP port fails', async () => {
    // busybox httpd in the guest, started through its agent (it daemonizes); lab reset ends it.
    const [started, ok, missing, wrongStatus, notHttp] = await inPrimary([
      {
        do: 'agentExec',
        vm: 'app-2',
        argv: [
          '/bin/sh',
          '-c',
          'mkdir -p /tmp/www && echo ok > /tmp/www/index.html && /bin/busybox httpd -p 8081 -h /tmp/www',
        ],
      },
      check('app-2', {
        id: 'app/check/2',
        kind: 'http',
        port: 8081,
        path: '/index.html',
        expect: 200,
        withinMs: 30_000,
      }),
      check('app-2', {
        id: 'app/check/3',
        kind: 'http',
        port: 8081,
        path: '/missing',
        expect: 404,
        withinMs: 10_000,
      }),
      check('app-2', {
        id: 'app/check/4',
        kind: 'http',
        port: 8081,
        path: '/index.html',
        expect: 204,
        withinMs: 3_000,
      }),
      check('app-2', {
        id: 'app/check/5',
        kind: 'http',
        port: 8080,
        path: '/',
        expect: 200,
        withinMs: 3_000,
      }),
    ]);
    expect(started?.ok).toBe(true);
    expect(passed(ok).detail).toBe('HTTP 200 (expected 200)');
    expect(passed(missing).detail).toBe('HTTP 404 (expected 404)');
    const w = failed(wrongStatus);
    expect(w.type).toBe('CHECK_FAILED');
    expect(w.message).toContain('HTTP 200 (expected 204)');
    // The guest's 8080 answers with a bare health line, which is not HTTP.
    expect(failed(notHttp).message).toMatch(/http:\/\/192\.168\.100\.12:8080\/: .*Parse Error/);
  });

  it('serial: the ready line passes; a pattern that never appears fails', async () => {
    const [ok, never] = await inPrimary([
      check('web-1', {
        id: 'web/check/1',
        kind: 'serial',
        pattern: 'LIFEBOAT-READY vm=web-1',
        withinMs: 30_000,
      }),
      check('web-1', { id: 'web/check/9', kind: 'serial', pattern: '^NEVER-PRINTED$', withinMs: 3_000 }),
    ]);
    expect(passed(ok).detail).toMatch(/^LIFEBOAT-READY vm=web-1 /);
    const f = failed(never);
    expect(f.type).toBe('CHECK_FAILED');
    expect(f.message).toContain('waiting for serial /^NEVER-PRINTED$/');
  });

  it('serial after a restart matches only the new run, also from another process', async () => {
    const [before] = await inPrimary([{ do: 'readSerial', vm: 'app-2' }]);
    const oldLog = (before as { ok: true; value: string }).value;
    const firstAck = /^LBACK vm=app-2 seq=(\d+)/m.exec(oldLog);
    expect(firstAck).not.toBeNull();
    const oldLine = `^LBACK vm=app-2 seq=${firstAck![1]}\\b`;

    const [stop, start, offset] = await inPrimary([
      {
        do: 'vmAction',
        input: { operationId: 'checks-test', action: 'stopVm', vm: 'app-2', shutdownDeadlineMs: 30_000 },
      },
      { do: 'vmAction', input: { operationId: 'checks-test', action: 'startVm', vm: 'app-2' } },
      { do: 'serialRunOffset', vm: 'app-2' },
    ]);
    expect(stop?.ok).toBe(true);
    expect(start?.ok && (start.value as VmActionResult).changed).toBe(true);
    const runOffset = (offset as { ok: true; value: number | null }).value;
    expect(runOffset).toBeGreaterThanOrEqual(Buffer.byteLength(oldLog));

    // A fresh process, as after a worker crash: the offset comes from the running domain.
    const [retried, again, ready, stale] = await inPrimary([
      { do: 'vmAction', input: { operationId: 'checks-test', action: 'startVm', vm: 'app-2' } },
      { do: 'serialRunOffset', vm: 'app-2' },
      check('app-2', {
        id: 'app/check/6',
        kind: 'serial',
        pattern: 'LIFEBOAT-READY vm=app-2',
        withinMs: 120_000,
      }),
      check('app-2', { id: 'app/check/7', kind: 'serial', pattern: oldLine, withinMs: 3_000 }),
    ]);
    expect(retried?.ok && (retried.value as VmActionResult).changed).toBe(false);
    expect((again as { ok: true; value: number }).value).toBe(runOffset);
    expect(passed(ready).detail).toMatch(/^LIFEBOAT-READY vm=app-2 /);
    // The old line is still in the log, but before this run: it no longer counts.
    const s = failed(stale);
    expect(s.type).toBe('CHECK_FAILED');
    const [whole] = await inPrimary([{ do: 'readSerial', vm: 'app-2' }]);
    expect((whole as { ok: true; value: string }).value).toMatch(new RegExp(oldLine, 'm'));
  });
});
