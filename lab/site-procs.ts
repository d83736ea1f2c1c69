import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPidFile } from '../platform/processes.ts';
import { type LabSiteName, SITE_TOPOLOGY, sitePaths } from './config.ts';
import { isRunning, type ProcRef, procRef, signal, signalGroup, stopProc, waitGone } from './proc.ts';
import { stopUnrecordedDaemons, tryVirsh } from './site.ts';
import type { LabState } from './state.ts';

/** The processes of a site, found by pid files and the lab state, and how they end. */

/** Pids of the QEMU processes of a site, from its /run/libvirt/qemu/*.pid files. */
export function qemuProcs(site: LabSiteName, home?: string): ProcRef[] {
  const dir = sitePaths(site, home).qemuPidDir;
  if (!existsSync(dir)) return [];
  const refs: ProcRef[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.pid'))) {
    const pid = readPidFile(path.join(dir, f));
    const ref = pid === undefined ? undefined : procRef(pid, `qemu ${f.slice(0, -4)} (${site})`);
    // Only a QEMU: a stale pid file must never make us signal an unrelated process.
    if (ref && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system')) refs.push(ref);
  }
  return refs;
}

/** Helper processes libvirt started for the site's networks (dnsmasq), from their pid files. */
export function networkHelperProcs(site: LabSiteName, home?: string): ProcRef[] {
  const dir = path.join(sitePaths(site, home).run, 'network');
  if (!existsSync(dir)) return [];
  const refs: ProcRef[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.pid'))) {
    const pid = readPidFile(path.join(dir, f));
    const ref = pid === undefined ? undefined : procRef(pid, `dnsmasq ${f} (${site})`);
    if (ref && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dnsmasq')) refs.push(ref);
  }
  return refs;
}

/** Every process of the site the lab knows about: workers, QEMUs, helpers, daemons. */
export function siteProcs(site: LabSiteName, state: LabState, home?: string): ProcRef[] {
  const s = state.sites[site];
  const refs: Array<ProcRef | undefined> = [
    ...Object.values(s.processes),
    ...qemuProcs(site, home),
    ...networkHelperProcs(site, home),
    s.libvirtd,
    s.virtlogd,
  ];
  return refs.filter((r): r is ProcRef => isRunning(r));
}

/**
 * Pids of every process in the site's own network namespace (which the lab created, so each one
 * is the lab's), with the start time that guards against a recycled pid.
 */
function netnsProcs(site: LabSiteName): ProcRef[] {
  const r = spawnSync('ip', ['netns', 'pids', SITE_TOPOLOGY[site].netns], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0)
    .map((pid) => procRef(pid, `pid ${pid} in ${SITE_TOPOLOGY[site].netns}`))
    .filter((ref): ref is ProcRef => ref !== undefined);
}

/**
 * SIGKILLs every process of the site by pid, all at once: a site failure, nothing graceful.
 * Processes the lab spawned lead their own process group, so what they started (a worker's
 * qemu-img or nbdcopy) dies with them; whatever still runs in the site's namespace after that
 * is swept by its pid.
 */
export async function killSiteProcs(site: LabSiteName, state: LabState, home?: string): Promise<ProcRef[]> {
  const killed: ProcRef[] = [];
  for (let round = 0; round < 3; round++) {
    const spawned = Object.values(state.sites[site].processes).filter((r) => isRunning(r));
    const refs = [...siteProcs(site, state, home), ...netnsProcs(site)];
    if (refs.length === 0) break;
    for (const r of spawned) signalGroup(r, 'SIGKILL');
    for (const r of refs) signal(r, 'SIGKILL');
    await waitGone(refs, 10_000);
    // libvirtd may have been about to start something: look again once it is dead.
    killed.push(...refs.filter((r) => !killed.some((k) => k.pid === r.pid)));
  }
  state.sites[site].processes = {};
  state.sites[site].killed = true;
  return killed;
}

/** Stops a site gracefully: domains destroyed through libvirt, then the daemons by pid. */
export async function stopSite(site: LabSiteName, state: LabState, home?: string): Promise<void> {
  const s = state.sites[site];
  for (const p of Object.values(s.processes)) await stopProc(p, 10_000);
  s.processes = {};
  if (isRunning(s.libvirtd)) {
    const r = await tryVirsh(site, ['list', '--name'], home, 15_000);
    for (const name of r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)) {
      await tryVirsh(site, ['destroy', name], home, 30_000);
    }
  }
  for (const q of qemuProcs(site, home)) await stopProc(q, 5_000);
  for (const d of networkHelperProcs(site, home)) await stopProc(d, 5_000);
  await stopProc(s.libvirtd, 10_000);
  await stopProc(s.virtlogd, 5_000);
  await stopUnrecordedDaemons(site, home);
  s.libvirtd = undefined;
  s.virtlogd = undefined;
}
