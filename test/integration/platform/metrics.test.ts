import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../../../platform/names.ts';
import { freeLoopbackPort } from '../../support/ports.ts';
import { spawnWatched, type Watched } from '../../support/processes.ts';
import { testServer } from '../../support/temporal.ts';

let proc: Watched | undefined;
afterEach(() => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  proc = undefined;
});

describe('`lifeboat worker orchestrator`', () => {
  test("serves Lifeboat's and Temporal's metrics on /metrics, logs pino JSON, and stops cleanly on SIGTERM", async () => {
    const metricsPort = await freeLoopbackPort();
    const sdkMetricsPort = await freeLoopbackPort();
    const { address, namespace } = testServer();
    proc = spawnWatched(
      process.execPath,
      [
        path.join(REPO_ROOT, 'bin', 'lifeboat.mjs'),
        'worker',
        'orchestrator',
        '--metrics-port',
        String(metricsPort),
        '--sdk-metrics-port',
        String(sdkMetricsPort),
      ],
      { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
      REPO_ROOT,
    );
    await proc.waitFor(/"msg":"worker started"/);

    // Core registers its poller gauges once polling starts; give it a moment.
    let text = '';
    for (let i = 0; i < 50 && !/^temporal_num_pollers/m.test(text); i++) {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      text = await res.text();
      await sleep(100);
    }
    expect(text).toContain(
      `lifeboat_worker_info{kind="orchestrator",queue="${ORCHESTRATOR_TASK_QUEUE}",site=""} 1`,
    );
    expect(text).toMatch(/^lifeboat_process_cpu_seconds_total /m);
    expect(text).toMatch(
      new RegExp(`^temporal_num_pollers\\{.*task_queue="${ORCHESTRATOR_TASK_QUEUE}"`, 'm'),
    );
    // The SDK's own endpoint answers too (the one Lifeboat's /metrics includes).
    const sdk = await (await fetch(`http://127.0.0.1:${sdkMetricsPort}/metrics`)).text();
    expect(sdk).toMatch(/^temporal_/m);
    expect(sdk).not.toContain('lifeboat_');

    // Every output line is a JSON object (pino), SDK lines included.
    const lines = proc.output().trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.some((l) => (JSON.parse(l) as { sdk?: boolean }).sdk === true)).toBe(true);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  });

  test('a SIGTERM that arrives while the worker is still starting stops it cleanly once it is up', async () => {
    const { address, namespace } = testServer();
    proc = spawnWatched(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'lifeboat.mjs'), 'worker', 'orchestrator'],
      { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
      REPO_ROOT,
    );
    await proc.waitFor(/"msg":"worker starting"/);
    proc.child.kill('SIGTERM');
    expect(await proc.exited, proc.output()).toEqual({ code: 0, signal: null });
    expect(proc.output()).toContain('"msg":"worker stopped"');
  });
});
