import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { stopDevServer } from '../../../platform/dev-server.ts';
import {
  embeddedWorkersStatus,
  ensureEmbeddedWorkers,
  stopEmbeddedWorkers,
} from '../../../platform/embedded-workers.ts';
import { PlatformError } from '../../../platform/errors.ts';
import { isAlive } from '../../../platform/processes.ts';
import { embeddedEnv, runCli } from '../../support/cli.ts';
import { freeLoopbackPort } from '../../support/ports.ts';

const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-embedded-'));
afterAll(async () => {
  await stopEmbeddedWorkers(home);
  await stopDevServer(home);
  rmSync(home, { recursive: true, force: true });
});

describe('embedded workers', () => {
  test('started once when none runs, reused after, stopped by `lifeboat server stop`', async () => {
    const env = embeddedEnv({
      LIFEBOAT_HOME: home,
      LIFEBOAT_TEMPORAL_PORT: String(await freeLoopbackPort()),
      LIFEBOAT_TEMPORAL_HEADLESS: '1',
    });
    const first = await ensureEmbeddedWorkers({ env });
    expect(first.embedded).toBe(true);
    expect(first.started.map((w) => w.name)).toEqual(['orchestrator']);
    const pid = first.started[0]!.pid!;
    expect(isAlive(pid)).toBe(true);

    const second = await ensureEmbeddedWorkers({ env });
    expect(second.started).toEqual([]);
    expect(second.running.map((w) => [w.name, w.pid])).toEqual([['orchestrator', pid]]);

    // A site with no driver: its worker exits at start-up and the error says why.
    const failure = await ensureEmbeddedWorkers({ env, sites: ['nowhere'] }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PlatformError);
    expect((failure as PlatformError).code).toBe('WORKER_START_FAILED');
    expect((failure as PlatformError).message).toContain('no driver configured for site nowhere');

    const status = await runCli(['server', 'status', '--json'], env);
    expect(JSON.parse(status.stdout).workers).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'orchestrator', pid })]),
    );

    const stop = await runCli(['server', 'stop'], env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`stopped worker orchestrator (pid ${pid})`);
    expect(isAlive(pid)).toBe(false);
    expect(embeddedWorkersStatus(home).every((w) => w.pid === undefined)).toBe(true);
  });

  test('a command that talks to workflows starts the server and the orchestrator worker itself, once', async () => {
    const fresh = mkdtempSync(path.join(tmpdir(), 'lifeboat-embedded-cli-'));
    const env = embeddedEnv({
      LIFEBOAT_HOME: fresh,
      LIFEBOAT_TEMPORAL_PORT: String(await freeLoopbackPort()),
      LIFEBOAT_TEMPORAL_HEADLESS: '1',
    });
    try {
      const first = await runCli(['status', '--json'], env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain('started the embedded Temporal server at 127.0.0.1:');
      expect(first.stderr).toMatch(/started the orchestrator worker \(pid \d+/);
      expect(JSON.parse(first.stdout)).toMatchObject({ inFlight: [] });
      const orchestrator = embeddedWorkersStatus(fresh).find((w) => w.name === 'orchestrator');
      expect(orchestrator?.pid).toBeDefined();
      expect(isAlive(orchestrator!.pid!)).toBe(true);

      const again = await runCli(['status', '--json'], env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toContain('started the');
      expect(embeddedWorkersStatus(fresh).find((w) => w.name === 'orchestrator')?.pid).toBe(
        orchestrator!.pid,
      );
    } finally {
      await stopEmbeddedWorkers(fresh);
      await stopDevServer(fresh);
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  test('nothing to start when TEMPORAL_ADDRESS names a deployed cluster', async () => {
    expect(await ensureEmbeddedWorkers({ env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } })).toEqual({
      embedded: false,
      started: [],
      running: [],
    });
  });
});
