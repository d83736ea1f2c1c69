import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { LAB_SITES, type LabSiteName, labPaths, SITE_TOPOLOGY, sitePaths } from './config.ts';
import { requireRoot, requireState } from './control.ts';
import { LabError } from './errors.ts';
import { ensureGuest } from './guest.ts';
import {
  applyLinkStates,
  ensureBridge,
  ensureInterLink,
  ensureMgmtLink,
  ensureSiteNetns,
  isMountPoint,
  linkExists,
  netnsExists,
} from './net.ts';
import { claimMachine, releaseMachine } from './owner.ts';
import { isRunning, stopProc } from './proc.ts';
import { ensureRelay, stopRelay, temporalPort } from './relay.ts';
import { run, tryRun } from './run.ts';
import { resolveLabRunbook } from './runbook.ts';
import {
  ensureHostMountPoints,
  ensureMountNamespace,
  ensureNetworks,
  ensureNsDir,
  prepareSiteFiles,
  startDaemons,
  stopLibvirtd,
  tryVirsh,
} from './site.ts';
import { stopSite } from './site-procs.ts';
import { emptyState, type LabState, readState, removeState, withLabLock, writeState } from './state.ts';
import {
  captureGolden,
  createVmFromBlank,
  hasGolden,
  lastAckedSeq,
  planLabVms,
  restoreGolden,
  serialText,
  startVm,
  undefineDomain,
  waitVmReady,
} from './vms.ts';
import { startSiteWorker } from './workers.ts';

export interface LabOptions {
  home?: string;
  /** Runbook whose VMs the lab creates on the primary (default runbooks/examples/lab.yaml). */
  runbook?: string;
  /** Start each site's worker (`lifeboat worker site <name>`) too. */
  workers?: boolean;
  port?: number;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface UpResult {
  guestBuilt: boolean;
  upMs: number;
  vms: Array<{ name: string; readyMs: number }>;
}

/** Brings a site's namespaces, links, daemons and networks up (each step idempotent). */
async function siteUp(site: LabSiteName, state: LabState, guestDir: string, home?: string): Promise<void> {
  await ensureSiteNetns(site, state);
  writeState(state, home);
  await ensureMgmtLink(site, state);
  writeState(state, home);
  const { hookChanged } = prepareSiteFiles(site, home);
  await ensureMountNamespace(site, state, guestDir, home);
  writeState(state, home);
  if (hookChanged) await stopLibvirtd(site, state);
  await startDaemons(site, state, home);
  writeState(state, home);
  await ensureNetworks(site, home);
}

/** Starts the lab's VMs that are not running and waits until every one is ready. */
async function bootVms(state: LabState, opts: LabOptions): Promise<Array<{ name: string; readyMs: number }>> {
  const after = state.vms.map((vm) => lastAckedSeq(serialText(vm)));
  for (const vm of state.vms) await startVm(vm, opts.home);
  const timeout = opts.readyTimeoutMs ?? 300_000;
  const ready = await Promise.all(state.vms.map((vm, i) => waitVmReady(vm, timeout, opts.home, after[i])));
  return state.vms.map((vm, i) => ({ name: vm.name, readyMs: ready[i]!.readyMs }));
}

export async function labUp(opts: LabOptions = {}): Promise<UpResult> {
  requireRoot();
  const log = opts.log ?? (() => {});
  return withLabLock(opts.home, async () => {
    const t0 = Date.now();
    const home = opts.home;
    claimMachine(home);
    const state = readState(home) ?? emptyState();
    log('guest: checking the cache');
    const guest = await ensureGuest(home);
    if (guest.built) log(`guest: built ${guest.dir}`);
    const guestChanged = state.guest !== undefined && state.guest.hash !== guest.hash;
    state.guest = { hash: guest.hash, dir: guest.dir };
    writeState(state, home);
    await ensureNsDir(state, home);
    ensureHostMountPoints(state);
    await ensureBridge(state);
    writeState(state, home);
    for (const site of LAB_SITES) {
      log(`site ${site}: starting namespaces, links, libvirtd, virtlogd`);
      await siteUp(site, state, guest.dir, home);
      writeState(state, home);
    }
    await ensureInterLink(state);
    await ensureRelay(state, opts.port ?? temporalPort(), home);
    writeState(state, home);

    const runbook = resolveLabRunbook(opts.runbook);
    const wanted = planLabVms(runbook, home);
    const sameVms =
      state.ready !== undefined &&
      !guestChanged &&
      state.runbook === runbook &&
      JSON.stringify(state.vms.map((v) => v.name)) === JSON.stringify(wanted.map((v) => v.name));
    let vms: Array<{ name: string; readyMs: number }>;
    if (!sameVms || !wanted.every((vm) => hasGolden(vm, home))) {
      await Promise.all(state.vms.map((old) => undefineDomain(old.site, old.domain, home)));
      state.vms = wanted;
      state.runbook = runbook;
      state.ready = undefined;
      writeState(state, home);
      for (const vm of wanted) await createVmFromBlank(vm, home);
      log(`vms: booting ${wanted.map((v) => v.name).join(', ')} on the primary`);
      vms = await bootVms(state, opts);
      log('vms: saving the golden state (memory, disks, serial logs) for reset');
      await Promise.all(wanted.map((vm) => captureGolden(vm, home)));
      await bootVms(state, opts);
    } else {
      log('vms: already created; starting any that stopped');
      vms = await bootVms(state, opts);
    }
    if (opts.workers) {
      state.workers = true;
      writeState(state, home);
      for (const site of LAB_SITES) await startSiteWorker(site, { home, port: opts.port });
    }
    const upMs = Date.now() - t0;
    const fresh = readState(home) ?? state;
    fresh.ready = { at: new Date().toISOString(), upMs };
    writeState({ ...fresh, vms: state.vms, runbook: state.runbook }, home);
    return { guestBuilt: guest.built, upMs, vms };
  });
}

/** Removes everything `up` created; safe to run twice, or after an `up` that failed half-way. */
export async function labDown(
  opts: { home?: string; log?: (l: string) => void } = {},
): Promise<{ removed: boolean }> {
  requireRoot();
  const log = opts.log ?? (() => {});
  return withLabLock(opts.home, async () => {
    const home = opts.home;
    const state = readState(home);
    if (!state) {
      releaseMachine(home);
      return { removed: false };
    }
    for (const site of LAB_SITES) {
      log(`site ${site}: stopping VMs, worker and daemons`);
      await stopSite(site, state, home);
      writeState(state, home);
    }
    await stopRelay(state);
    writeState(state, home);
    for (const site of LAB_SITES) {
      const p = sitePaths(site, home);
      if (isMountPoint(p.mntns)) await run('umount', [p.mntns]);
      const s = state.sites[site];
      if (s.netns && (await netnsExists(s.netns))) await run('ip', ['netns', 'del', s.netns]);
      // Deleting the namespace removes the veth pairs with it, asynchronously: a host end may
      // vanish between the check and the delete, which is fine.
      for (const ifname of s.hostInterfaces) {
        const r = await tryRun('ip', ['link', 'del', ifname]);
        if (r.code !== 0 && (await linkExists(ifname))) await run('ip', ['link', 'del', ifname]);
      }
      state.sites[site] = { hostInterfaces: [], processes: {} };
      writeState(state, home);
    }
    if (state.bridge && (await linkExists(state.bridge))) await run('ip', ['link', 'del', state.bridge]);
    state.bridge = undefined;
    const nsDir = labPaths(home).nsDir;
    if (state.nsDirMounted && isMountPoint(nsDir)) await run('umount', [nsDir]);
    state.nsDirMounted = false;
    for (const dir of state.hostDirs) removeEmptyTree(dir);
    state.hostDirs = [];
    writeState(state, home);
    for (const site of LAB_SITES) rmSync(sitePaths(site, home).root, { recursive: true, force: true });
    rmSync(nsDir, { recursive: true, force: true });
    rmSync(labPaths(home).relayLog, { force: true });
    removeState(home);
    releaseMachine(home);
    return { removed: true };
  });
}

/** Removes a directory tree the lab created as mount points, only while it holds no files. */
function removeEmptyTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) return;
    removeEmptyTree(path.join(dir, entry.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: something else uses it now; leave it.
  }
}

/**
 * Brings a killed site back as a host that powers on again: its namespaces, links and daemons
 * restart, while its domains, their disks and its storage stay as the kill left them (unlike
 * `reset`). libvirtd starts the domains marked autostart; site workers are not started (start
 * them with `lab workers start`, or a test's own).
 */
export async function labRevive(site: LabSiteName, opts: LabOptions = {}): Promise<{ reviveMs: number }> {
  requireRoot();
  return withLabLock(opts.home, async () => {
    const t0 = Date.now();
    const state = requireState(opts.home);
    if (!state.guest) throw new LabError('LAB_NOT_UP', 'the lab has no guest', {}, 'run `lifeboat lab up`');
    await siteUp(site, state, state.guest.dir, opts.home);
    writeState(state, opts.home);
    return { reviveMs: Date.now() - t0 };
  });
}

/**
 * Returns both sites to their freshly-up state: links healed, killed sites restarted, every
 * domain and file created since `up` removed, the lab VMs' disks copied back from the golden
 * images and the VMs booted again.
 */
export async function labReset(opts: LabOptions = {}): Promise<{ resetMs: number }> {
  requireRoot();
  const log = opts.log ?? (() => {});
  return withLabLock(opts.home, async () => {
    const t0 = Date.now();
    const home = opts.home;
    const state = requireState(home);
    if (!state.guest) throw new LabError('LAB_NOT_UP', 'the lab has no guest', {}, 'run `lifeboat lab up`');
    state.cut = false;
    for (const site of LAB_SITES) state.sites[site].isolated = false;
    await applyLinkStates(state);
    await ensureRelay(state, opts.port ?? temporalPort(), home);
    writeState(state, home);
    for (const site of LAB_SITES) {
      const s = state.sites[site];
      // Workers are stopped while their site is rearranged and started again afterwards.
      for (const p of Object.values(s.processes)) await stopProc(p, 10_000);
      s.processes = {};
      const hookStale = prepareSiteFiles(site, home).hookChanged;
      if (s.killed || hookStale || !isRunning(s.libvirtd) || !isRunning(s.virtlogd)) {
        log(`site ${site}: restarting its daemons`);
        // prepareSiteFiles again in siteUp finds the hook in place; libvirtd must read it.
        if (hookStale) await stopLibvirtd(site, state);
        await siteUp(site, state, state.guest.dir, home);
      }
      writeState(state, home);
      log(`site ${site}: removing domains`);
      const domains = await tryVirsh(site, ['list', '--all', '--name'], home);
      const names = domains.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      await Promise.all(names.map((d) => undefineDomain(site, d, home)));
      await removeExtraNetworks(site, home);
      // The storage holds only what the lab puts there: clear it (lab VMs are restored below).
      const storage = sitePaths(site, home).storage;
      for (const entry of readdirSync(storage))
        rmSync(path.join(storage, entry), { recursive: true, force: true });
    }
    log('vms: restoring the golden state');
    await Promise.all(state.vms.map((vm) => restoreGolden(vm, home)));
    await bootVms(state, opts);
    if (state.workers) {
      writeState(state, home);
      for (const site of LAB_SITES) await startSiteWorker(site, { home, port: opts.port });
    } else {
      writeState(state, home);
    }
    return { resetMs: Date.now() - t0 };
  });
}

async function removeExtraNetworks(site: LabSiteName, home?: string): Promise<void> {
  const wanted = SITE_TOPOLOGY[site].networks;
  const nets = await tryVirsh(site, ['net-list', '--all', '--name'], home);
  for (const n of nets.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    if (wanted.includes(n)) continue;
    await tryVirsh(site, ['net-destroy', n], home);
    await tryVirsh(site, ['net-undefine', n], home);
  }
  await ensureNetworks(site, home);
}

export {
  labCut,
  labHeal,
  labIsolate,
  labKillSite,
  labRejoin,
  labStartWorkers,
  labStopWorkers,
} from './control.ts';
export { WORKER_KEY } from './workers.ts';
