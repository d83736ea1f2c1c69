import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterEach, describe, expect, test } from 'vitest';
import {
  devServerStatus,
  ensureDevServer,
  isServerHealthy,
  stopDevServer,
} from '../../../platform/dev-server.ts';
import { temporalCliPath } from '../../../platform/home.ts';
import { isAlive } from '../../../platform/processes.ts';
import {
  ensureSearchAttributes,
  lifeboatSearchAttributeNames,
  listLifeboatSearchAttributes,
} from '../../../platform/search-attributes.ts';
import { embeddedEnv, runCli } from '../../support/cli.ts';
import { freeLoopbackPort } from '../../support/ports.ts';

// These tests run their own servers (own homes, own ports) beside the run's shared one.
const homes: string[] = [];
function newHome(): string {
  const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-server-'));
  homes.push(home);
  return home;
}

afterEach(async () => {
  for (const home of homes.splice(0)) {
    await stopDevServer(home);
    rmSync(home, { recursive: true, force: true });
  }
});

async function withClient<T>(
  address: string,
  fn: (client: Client, connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await fn(new Client({ connection }), connection);
  } finally {
    await connection.close();
  }
}

describe('embedded dev server', () => {
  test('starts, is reused while up, and keeps its data across a restart', async () => {
    const home = newHome();
    const port = await freeLoopbackPort();
    const first = await ensureDevServer({ home, port, headless: true });
    expect(first.reused).toBe(false);
    expect(first.address).toBe(`127.0.0.1:${port}`);

    const again = await ensureDevServer({ home, port, headless: true });
    expect(again.reused).toBe(true);
    expect(again.pid).toBe(first.pid);

    // A workflow no worker serves stays Running in the database until the restart and after it.
    const workflowId = 'kept-across-restart';
    await withClient(first.address, (client) =>
      client.workflow.start('notServedAnywhere', { taskQueue: 'nobody-polls-this', workflowId, args: [{}] }),
    );

    const stopped = await stopDevServer(home);
    expect(stopped).toEqual({ stopped: true, pid: first.pid });
    expect(isAlive(first.pid)).toBe(false);
    expect((await devServerStatus(home)).running).toBe(false);

    const second = await ensureDevServer({ home, port, headless: true });
    expect(second.reused).toBe(false);
    expect(second.pid).not.toBe(first.pid);
    const described = await withClient(second.address, (client) =>
      client.workflow.getHandle(workflowId).describe(),
    );
    expect(described.status.name).toBe('RUNNING');
    expect(described.type).toBe('notServedAnywhere');
  });

  test('registers the search attributes on a database created without them, and they survive a restart', async () => {
    const home = newHome();
    const port = await freeLoopbackPort();
    const address = `127.0.0.1:${port}`;
    // A database made by a plain `temporal server start-dev` knows none of Lifeboat's attributes.
    const plain: ChildProcess = spawn(
      temporalCliPath(),
      [
        'server',
        'start-dev',
        '--db-filename',
        path.join(home, 'temporal.db'),
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--headless',
      ],
      { stdio: 'ignore' },
    );
    try {
      while (!(await isServerHealthy(address, 'default', 1_000))) await sleep(200);
      const before = await withClient(address, (_c, connection) =>
        listLifeboatSearchAttributes(connection, 'default'),
      );
      expect(before).toEqual([]);
    } finally {
      const exited = new Promise((resolve) => plain.once('exit', resolve));
      plain.kill('SIGTERM');
      await exited;
    }

    const server = await ensureDevServer({ home, port, headless: true });
    const after = await withClient(address, (_c, connection) =>
      listLifeboatSearchAttributes(connection, 'default'),
    );
    expect(after.sort()).toEqual(lifeboatSearchAttributeNames().sort());

    await stopDevServer(home);
    const restarted = await ensureDevServer({ home, port, headless: true, registerSearchAttributes: false });
    expect(restarted.pid).not.toBe(server.pid);
    await withClient(address, async (_c, connection) => {
      expect((await listLifeboatSearchAttributes(connection, 'default')).sort()).toEqual(
        lifeboatSearchAttributeNames().sort(),
      );
      expect((await ensureSearchAttributes(connection, 'default')).added).toEqual([]);
    });
  });

  test('`lifeboat server start|status|stop` manage it through the CLI', async () => {
    const home = newHome();
    const env = embeddedEnv({
      LIFEBOAT_HOME: home,
      LIFEBOAT_TEMPORAL_PORT: String(await freeLoopbackPort()),
      LIFEBOAT_TEMPORAL_UI_PORT: String(await freeLoopbackPort()),
    });
    const start = await runCli(['server', 'start', '--json'], env);
    expect(start.code, start.stderr).toBe(0);
    const info = JSON.parse(start.stdout) as { pid: number; address: string; uiUrl: string; reused: boolean };
    expect(info.reused).toBe(false);
    expect(info.uiUrl).toBe(`http://127.0.0.1:${env.LIFEBOAT_TEMPORAL_UI_PORT}`);
    // The UI answers on the printed address.
    expect((await fetch(info.uiUrl)).status).toBe(200);

    const reuse = await runCli(['server', 'start'], env);
    expect(reuse.code).toBe(0);
    expect(reuse.stdout).toContain('already running');

    const status = await runCli(['server', 'status', '--json'], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, healthy: true, pid: info.pid });

    const stop = await runCli(['server', 'stop'], env);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`stopped Temporal (pid ${info.pid})`);
    expect(isAlive(info.pid)).toBe(false);

    const down = await runCli(['server', 'status'], env);
    expect(down.code).toBe(3);
    expect(down.stdout).toContain('not running');
  });
});
