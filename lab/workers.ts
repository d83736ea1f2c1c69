import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { hasPoller } from '../platform/embedded-workers.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { siteTaskQueue } from '../platform/names.ts';
import { isAlive } from '../platform/processes.ts';
import { hostPathOf, type LabSiteName, SITE_INNER_URI, SITE_STORAGE_PATH } from './config.ts';
import { LabError } from './errors.ts';
import { spawnInSite, stopInSite } from './exec.ts';
import { siteTemporalAddress, temporalPort } from './relay.ts';
import { ensureLabReplicationTls, labReplicationEnv } from './replication-tls.ts';
import type { SpawnedProc } from './state.ts';

export const WORKER_KEY = 'worker';
/** The scripts `run` steps may execute at a lab site, inside the site's own storage. */
export const LAB_HOOKS_DIR = `${SITE_STORAGE_PATH}/hooks`;

/** The site worker's command line (`lifeboat worker site <name>`), run with this Node. */
export function siteWorkerArgv(site: LabSiteName): string[] {
  return [process.execPath, path.join(REPO_ROOT, 'bin', 'lifeboat.mjs'), 'worker', 'site', site];
}

/**
 * Starts the site's worker inside the site's namespaces. It reaches Temporal through the relay
 * on the management link, its libvirt as plain `qemu:///system`, and serves and pulls
 * replication transfers on its inter-site address with the lab's per-site certificates.
 */
export async function startSiteWorker(
  site: LabSiteName,
  opts: { home?: string; port?: number; argv?: string[] } = {},
): Promise<SpawnedProc> {
  await ensureLabReplicationTls(opts.home);
  mkdirSync(hostPathOf(site, LAB_HOOKS_DIR, opts.home), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...labReplicationEnv(site, opts.home),
    TEMPORAL_ADDRESS: siteTemporalAddress(opts.port ?? temporalPort()),
    LIFEBOAT_SITE: site,
    LIFEBOAT_SITE_URI: SITE_INNER_URI,
    LIFEBOAT_SITE_STORAGE: SITE_STORAGE_PATH,
    LIFEBOAT_SITE_HOOKS: LAB_HOOKS_DIR,
    LIBVIRT_DEFAULT_URI: SITE_INNER_URI,
  };
  if (opts.home) env.LIFEBOAT_HOME = opts.home;
  return spawnInSite(site, opts.argv ?? siteWorkerArgv(site), {
    key: WORKER_KEY,
    env,
    cwd: REPO_ROOT,
    home: opts.home,
  });
}

export async function stopSiteWorker(site: LabSiteName, home?: string): Promise<boolean> {
  return stopInSite(site, WORKER_KEY, home);
}

export interface StartedWorker {
  site: LabSiteName;
  proc: SpawnedProc;
}

/**
 * Waits until each started site worker polls its queue (`site-<name>`), so a lab reported up
 * really answers; a worker that exits first (no server, bad TLS) fails with its log's last lines.
 */
export async function waitSiteWorkersPolling(
  client: Client,
  workers: readonly StartedWorker[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(workers);
  while (pending.size > 0) {
    for (const w of [...pending]) {
      const p = { ...w.proc, site: w.site };
      if (!isAlive(p.pid)) {
        throw new LabError(
          'WORKER_EXITED',
          `the site worker of ${p.site} (pid ${p.pid}) exited: ${logTail(p.log)}`,
          { site: p.site, log: p.log },
          'is the Temporal server up (lifeboat server start)? see the log',
        );
      }
      if (await hasPoller(client, client.options.namespace, siteTaskQueue(p.site), p.pid)) pending.delete(w);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const sites = [...pending].map((w) => w.site).join(', ');
      throw new LabError(
        'WORKER_NOT_POLLING',
        `no poll from the site worker of ${sites} within ${timeoutMs / 1000} s`,
        { sites },
        'see the worker logs under .lifeboat/lab/<site>/worker.log',
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(-600);
  } catch {
    return '(no log)';
  }
}
