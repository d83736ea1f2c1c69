import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../platform/home.ts';
import { hostPathOf, type LabSiteName, SITE_INNER_URI, SITE_STORAGE_PATH } from './config.ts';
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
