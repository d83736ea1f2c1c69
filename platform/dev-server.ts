import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { PlatformError } from './errors.ts';
import { homePaths, temporalCliPath } from './home.ts';
import { isAlive, livePidFromFile, spawnDetached, stopPid, tailFile } from './processes.ts';
import { ensureSearchAttributes } from './search-attributes.ts';

/**
 * The embedded Temporal dev server (`temporal server start-dev` with a SQLite file under the
 * state directory): started detached with a pid file, reused while it is up, stopped by pid.
 */

/**
 * Dynamic config Lifeboat's Temporal runs with, here and in docker-compose
 * (deploy/temporal/dynamicconfig.yaml carries the same values; a unit test holds them equal).
 * A history shard reads its task queues at most `…MaxPollRPS` times a second, 20 by default:
 * under back-to-back work (a replication cycle is ~15 transfer tasks: activity and workflow task
 * dispatch, child starts, signals) every dispatch then waits for the limiter, ~40-50 ms each,
 * and an idle cycle took 0.8 s instead of 0.3 s. The dev server has a single shard.
 */
export const TEMPORAL_DYNAMIC_CONFIG: Readonly<Record<string, number>> = {
  'history.transferProcessorMaxPollRPS': 1000,
  'history.timerProcessorMaxPollRPS': 1000,
  'history.visibilityProcessorMaxPollRPS': 1000,
};

export const DEFAULT_TEMPORAL_PORT = 7233;
export const DEFAULT_NAMESPACE = 'default';

export interface DevServerOptions {
  home: string;
  /** Front-end gRPC port (default `LIFEBOAT_TEMPORAL_PORT` or 7233). */
  port?: number;
  /** Web UI port (default `LIFEBOAT_TEMPORAL_UI_PORT` or port + 1000). */
  uiPort?: number;
  /** No Web UI (default: `LIFEBOAT_TEMPORAL_HEADLESS=1`). */
  headless?: boolean;
  ip?: string;
  namespace?: string;
  /** Register Lifeboat's search attributes after start (default true). */
  registerSearchAttributes?: boolean;
  startTimeoutMs?: number;
  /** Where the LIFEBOAT_TEMPORAL_* defaults come from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface DevServerInfo {
  pid: number;
  address: string;
  namespace: string;
  uiUrl: string | undefined;
  dbFile: string;
  logFile: string;
  /** True when an already running server was reused. */
  reused: boolean;
}

interface ServerState {
  pid: number;
  address: string;
  namespace: string;
  uiUrl: string | undefined;
  dbFile: string;
  startedAt: string;
}

function envPort(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number.parseInt(value, 10);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

/** The `temporal server start-dev` argument list (pure, unit-tested). */
export function devServerArgs(o: {
  dbFile: string;
  ip: string;
  port: number;
  uiPort: number;
  headless: boolean;
  namespace: string;
}): string[] {
  const args = ['server', 'start-dev', '--db-filename', o.dbFile, '--ip', o.ip, '--port', String(o.port)];
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort), '--ui-disable-news-fetch');
  if (o.namespace !== DEFAULT_NAMESPACE) args.push('--namespace', o.namespace);
  args.push('--log-format', 'json', '--log-level', 'warn');
  for (const [key, value] of Object.entries(TEMPORAL_DYNAMIC_CONFIG)) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

function readState(file: string): ServerState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

/** True when a Temporal front end answers at `address` and knows `namespace`. */
export async function isServerHealthy(
  address: string,
  namespace: string,
  timeoutMs = 2_000,
): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.withDeadline(Date.now() + timeoutMs, () =>
      connection!.workflowService.describeNamespace({ namespace }),
    );
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

async function withLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  // Two commands may start the server at once; the lock holder's pid breaks stale locks.
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch {
      const holder = Number.parseInt(readFileSync(lockFile, 'utf8').trim() || '0', 10);
      if (!holder || !isAlive(holder) || Date.now() > deadline) rmSync(lockFile, { force: true });
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

/** Starts the embedded dev server unless one is already up for this home; then registers search attributes. */
export async function ensureDevServer(opts: DevServerOptions): Promise<DevServerInfo> {
  const paths = homePaths(opts.home);
  mkdirSync(paths.home, { recursive: true });
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const info = await withLock(`${paths.serverPid}.lock`, async () => {
    const running = livePidFromFile(paths.serverPid, 'temporal');
    const state = readState(paths.serverState);
    if (running !== undefined && state && state.pid === running) {
      const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
      // A server started a moment ago may still be opening its database.
      while (Date.now() < deadline && isAlive(running)) {
        if (await isServerHealthy(state.address, state.namespace)) {
          return { ...state, logFile: paths.serverLog, reused: true };
        }
        await sleep(250);
      }
      await stopPid(running, { pidFile: paths.serverPid });
    }
    return startWithRetries(opts, namespace);
  });
  if (opts.registerSearchAttributes !== false) {
    const connection = await Connection.connect({ address: info.address });
    try {
      await ensureSearchAttributes(connection, info.namespace);
    } finally {
      await connection.close();
    }
  }
  return info;
}

/**
 * The dev server binds several internal ports it picks at random from the ephemeral range just
 * before listening; a client connection can take one in between. That race, and only it, is
 * worth another start.
 */
async function startWithRetries(opts: DevServerOptions, namespace: string): Promise<DevServerInfo> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServer(opts, namespace);
    } catch (err) {
      const raced = err instanceof PlatformError && /address already in use/.test(err.message);
      if (!raced || attempt >= 3) throw err;
    }
  }
}

async function startDevServer(opts: DevServerOptions, namespace: string): Promise<DevServerInfo> {
  const paths = homePaths(opts.home);
  const fromEnv = opts.env ?? process.env;
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? envPort(fromEnv.LIFEBOAT_TEMPORAL_PORT) ?? DEFAULT_TEMPORAL_PORT;
  const uiPort = opts.uiPort ?? envPort(fromEnv.LIFEBOAT_TEMPORAL_UI_PORT) ?? port + 1000;
  const headless = opts.headless ?? fromEnv.LIFEBOAT_TEMPORAL_HEADLESS === '1';
  const address = `${ip}:${port}`;
  if (await isServerHealthy(address, namespace, 1_000)) {
    throw new PlatformError(
      'SERVER_START_FAILED',
      'another Temporal server already listens on the embedded port',
      { address, home: opts.home },
      'stop it, or choose another port with LIFEBOAT_TEMPORAL_PORT, or point TEMPORAL_ADDRESS at it',
    );
  }
  // The CLI reads TEMPORAL_* connection variables; none of them concern the server it starts.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
  const args = devServerArgs({ dbFile: paths.serverDb, ip, port, uiPort, headless, namespace });
  const proc = spawnDetached(temporalCliPath(), args, {
    logFile: paths.serverLog,
    pidFile: paths.serverPid,
    env,
  });
  const uiUrl = headless ? undefined : `http://${ip}:${uiPort}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (!isAlive(proc.pid)) {
      rmSync(paths.serverPid, { force: true });
      throw new PlatformError(
        'SERVER_START_FAILED',
        `temporal server start-dev exited during start-up:\n${tailFile(paths.serverLog)}`,
        { address, log: paths.serverLog },
        'read the log; a port in use or a damaged database file are the usual causes',
      );
    }
    if (await isServerHealthy(address, namespace, 1_000)) break;
    if (Date.now() > deadline) {
      await stopPid(proc.pid, { pidFile: paths.serverPid });
      throw new PlatformError(
        'SERVER_START_FAILED',
        'the dev server did not become healthy in time',
        { address, log: paths.serverLog },
        'read the log for errors',
      );
    }
    await sleep(200);
  }
  const state: ServerState = {
    pid: proc.pid,
    address,
    namespace,
    uiUrl,
    dbFile: paths.serverDb,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(paths.serverState, `${JSON.stringify(state, null, 2)}\n`);
  return { ...state, logFile: paths.serverLog, reused: false };
}

export interface DevServerStatus {
  running: boolean;
  healthy: boolean;
  pid: number | undefined;
  address: string | undefined;
  namespace: string | undefined;
  uiUrl: string | undefined;
  dbFile: string;
  logFile: string;
}

export async function devServerStatus(home: string): Promise<DevServerStatus> {
  const paths = homePaths(home);
  const pid = livePidFromFile(paths.serverPid, 'temporal');
  const state = readState(paths.serverState);
  const current = pid !== undefined && state?.pid === pid ? state : undefined;
  return {
    running: pid !== undefined,
    healthy: current ? await isServerHealthy(current.address, current.namespace) : false,
    pid,
    address: current?.address,
    namespace: current?.namespace,
    uiUrl: current?.uiUrl,
    dbFile: paths.serverDb,
    logFile: paths.serverLog,
  };
}

/** Stops the embedded server by its pid file; the database file stays. */
export async function stopDevServer(home: string): Promise<{ stopped: boolean; pid: number | undefined }> {
  const paths = homePaths(home);
  const pid = livePidFromFile(paths.serverPid, 'temporal');
  if (pid === undefined) {
    rmSync(paths.serverPid, { force: true });
    return { stopped: false, pid: undefined };
  }
  await stopPid(pid, { pidFile: paths.serverPid, graceMs: 20_000 });
  return { stopped: true, pid };
}
