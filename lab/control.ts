import { LAB_SITES, type LabSiteName } from './config.ts';
import { LabError } from './errors.ts';
import { applyLinkStates } from './net.ts';
import { killSiteProcs } from './site-procs.ts';
import { type LabState, readState, withLabLock, writeState } from './state.ts';
import { type StartedWorker, startSiteWorker, stopSiteWorker } from './workers.ts';

/** The lab's failure switches (links, site kills) and its site workers, on a lab that is up. */

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new LabError('NOT_ROOT', 'the lab needs root (namespaces, bridges, libvirt)', {}, 'run as root');
  }
}

export function requireState(home?: string): LabState {
  const state = readState(home);
  if (!state?.sites.primary.netns) {
    throw new LabError('LAB_NOT_UP', 'the lab is not up', { home }, 'run `lifeboat lab up`');
  }
  return state;
}

async function withState(home: string | undefined, fn: (s: LabState) => Promise<void>): Promise<LabState> {
  requireRoot();
  return withLabLock(home, async () => {
    const state = requireState(home);
    await fn(state);
    writeState(state, home);
    return state;
  });
}

/** Cuts the inter-site link (both ends down); management links stay up. */
export function labCut(home?: string) {
  return withState(home, async (s) => {
    s.cut = true;
    await applyLinkStates(s);
  });
}

export function labHeal(home?: string) {
  return withState(home, async (s) => {
    s.cut = false;
    await applyLinkStates(s);
  });
}

/** Takes every link of a site down (management and inter-site); its VMs keep running. */
export function labIsolate(site: LabSiteName, home?: string) {
  return withState(home, async (s) => {
    s.sites[site].isolated = true;
    await applyLinkStates(s);
  });
}

export function labRejoin(site: LabSiteName, home?: string) {
  return withState(home, async (s) => {
    s.sites[site].isolated = false;
    await applyLinkStates(s);
  });
}

/** SIGKILLs every process of the site (QEMUs, worker, helpers, daemons) by pid. */
export async function labKillSite(site: LabSiteName, home?: string): Promise<{ killed: number[] }> {
  let killed: number[] = [];
  await withState(home, async (s) => {
    killed = (await killSiteProcs(site, s, home)).map((r) => r.pid);
  });
  return { killed };
}

/** Starts (or restarts) both site workers. */
export async function labStartWorkers(opts: { home?: string; port?: number } = {}): Promise<StartedWorker[]> {
  await withState(opts.home, async (s) => {
    s.workers = true;
  });
  const started: StartedWorker[] = [];
  for (const site of LAB_SITES) started.push({ site, proc: await startSiteWorker(site, opts) });
  return started;
}

/** Stops both site workers; reset no longer restarts them. */
export async function labStopWorkers(opts: { home?: string } = {}): Promise<void> {
  await withState(opts.home, async (s) => {
    s.workers = false;
  });
  for (const site of LAB_SITES) await stopSiteWorker(site, opts.home);
}
