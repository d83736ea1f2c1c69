import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { connectClient, externalTargetFromEnv, resolveTemporalTarget } from './connection.ts';
import { PlatformError } from './errors.ts';
import { homePaths, lifeboatHome, REPO_ROOT } from './home.ts';
import { ORCHESTRATOR_TASK_QUEUE, siteTaskQueue } from './names.ts';
import { livePidFromFile, spawnDetached, stopPid, tailFile } from './processes.ts';

/**
 * Embedded mode without deployed workers: the CLI starts the orchestrator worker (and the site
 * workers it names) as detached `lifeboat worker ...` processes with pid files under the state
 * directory, and `lifeboat server stop` stops them again.
 */

const TaskQueueType = protos.temporal.api.enums.v1.TaskQueueType;
const CLI_ENTRY = path.join(REPO_ROOT, 'bin', 'lifeboat.mjs');

export interface EmbeddedWorker {
  name: string;
  taskQueue: string;
  pid: number | undefined;
  pidFile: string;
  logFile: string;
}

function workerFiles(home: string, name: string) {
  const dir = homePaths(home).workersDir;
  return { pidFile: path.join(dir, `${name}.pid`), logFile: path.join(dir, `${name}.log`) };
}

/** `orchestrator` or `site-<name>`: the pid file's name and the worker's task queue. */
function workerSpec(site: string | undefined) {
  return site === undefined
    ? { name: 'orchestrator', taskQueue: ORCHESTRATOR_TASK_QUEUE, args: ['worker', 'orchestrator'] }
    : { name: siteTaskQueue(site), taskQueue: siteTaskQueue(site), args: ['worker', 'site', site] };
}

/** Whether the process `pid` polls `taskQueue` (workflow or activity side). */
export async function hasPoller(
  client: Client,
  namespace: string,
  taskQueue: string,
  pid: number,
): Promise<boolean> {
  for (const taskQueueType of [
    TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  ]) {
    const res = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType,
    });
    // The SDK's default identity is `<pid>@<host>`.
    if ((res.pollers ?? []).some((p) => (p.identity ?? '').startsWith(`${pid}@`))) return true;
  }
  return false;
}

/**
 * Starts the orchestrator worker and the named sites' workers unless they are running, and waits
 * until each polls its queue. Does nothing when `TEMPORAL_ADDRESS` names a deployed cluster.
 */
export async function ensureEmbeddedWorkers(
  opts: {
    sites?: string[];
    home?: string;
    env?: NodeJS.ProcessEnv;
    readyTimeoutMs?: number;
    /** A client the caller already holds to the embedded server (saves a second connection). */
    client?: Client;
  } = {},
): Promise<{ embedded: boolean; started: EmbeddedWorker[]; running: EmbeddedWorker[] }> {
  const env = opts.env ?? process.env;
  if (externalTargetFromEnv(env)) return { embedded: false, started: [], running: [] };
  const home = opts.home ?? lifeboatHome(env);
  mkdirSync(homePaths(home).workersDir, { recursive: true });
  if (opts.client) return startMissing(opts.client, opts.client.options.namespace, home, env, opts);
  const target = await resolveTemporalTarget({ ...env, LIFEBOAT_HOME: home });
  const { client, connection } = await connectClient(target);
  try {
    return await startMissing(client, target.namespace, home, env, opts);
  } finally {
    await connection.close();
  }
}

async function startMissing(
  client: Client,
  namespace: string,
  home: string,
  env: NodeJS.ProcessEnv,
  opts: { sites?: string[]; readyTimeoutMs?: number },
): Promise<{ embedded: boolean; started: EmbeddedWorker[]; running: EmbeddedWorker[] }> {
  const started: EmbeddedWorker[] = [];
  const running: EmbeddedWorker[] = [];
  for (const site of [undefined, ...(opts.sites ?? [])]) {
    const spec = workerSpec(site);
    const files = workerFiles(home, spec.name);
    const live = livePidFromFile(files.pidFile, 'lifeboat.mjs');
    if (live !== undefined) {
      running.push({ name: spec.name, taskQueue: spec.taskQueue, pid: live, ...files });
      continue;
    }
    const childEnv = { ...env, LIFEBOAT_HOME: home };
    const proc = spawnDetached(process.execPath, [CLI_ENTRY, ...spec.args], {
      ...files,
      env: childEnv,
      cwd: REPO_ROOT,
    });
    const worker = { name: spec.name, taskQueue: spec.taskQueue, pid: proc.pid, ...files };
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
    for (;;) {
      if (livePidFromFile(files.pidFile, 'lifeboat.mjs') === undefined) {
        rmSync(files.pidFile, { force: true });
        throw new PlatformError(
          'WORKER_START_FAILED',
          `the ${spec.name} worker exited during start-up:\n${tailFile(files.logFile)}`,
          { queue: spec.taskQueue, log: files.logFile },
          site === undefined ? 'read the worker log' : `check that site ${site} is configured`,
        );
      }
      if (await hasPoller(client, namespace, spec.taskQueue, proc.pid)) break;
      if (Date.now() > deadline) {
        await stopPid(proc.pid, { pidFile: files.pidFile });
        throw new PlatformError(
          'WORKER_START_FAILED',
          `the ${spec.name} worker did not start polling in time`,
          { queue: spec.taskQueue, log: files.logFile },
          'read the worker log',
        );
      }
      await sleep(300);
    }
    started.push(worker);
  }
  return { embedded: true, started, running };
}

/** The embedded workers with a pid file under the home, and whether each is alive. */
export function embeddedWorkersStatus(home: string): EmbeddedWorker[] {
  const dir = homePaths(home).workersDir;
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.pid'));
  } catch {
    return [];
  }
  return names.map((f) => {
    const name = f.slice(0, -'.pid'.length);
    const files = workerFiles(home, name);
    const taskQueue = name === 'orchestrator' ? ORCHESTRATOR_TASK_QUEUE : name;
    return { name, taskQueue, pid: livePidFromFile(files.pidFile, 'lifeboat.mjs'), ...files };
  });
}

/** Stops every embedded worker by its pid file (SIGTERM, so in-flight activities finish). */
export async function stopEmbeddedWorkers(home: string): Promise<EmbeddedWorker[]> {
  const workers = embeddedWorkersStatus(home);
  await Promise.all(
    workers.map(async (w) => {
      if (w.pid !== undefined) await stopPid(w.pid, { pidFile: w.pidFile, graceMs: 45_000 });
      else rmSync(w.pidFile, { force: true });
    }),
  );
  return workers.filter((w) => w.pid !== undefined);
}
