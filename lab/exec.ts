import { type SpawnOptions, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { type LabSiteName, SITE_TOPOLOGY, sitePaths } from './config.ts';
import { LabError } from './errors.ts';
import { procRef, stopProc } from './proc.ts';
import { readState, type SpawnedProc, withLabLock, writeState } from './state.ts';

/**
 * The argv that runs `argv` inside a site: its network namespace and its persistent mount
 * namespace (where /run/libvirt, /etc/libvirt, /var/lib/libvirt, ... and the site's storage are
 * the site's own). nsenter execs the program, so the pid of the spawned process is its pid.
 */
export function siteCommand(site: LabSiteName, argv: readonly string[], home?: string): string[] {
  return [
    'nsenter',
    `--net=/run/netns/${SITE_TOPOLOGY[site].netns}`,
    `--mount=${sitePaths(site, home).mntns}`,
    '--',
    ...argv,
  ];
}

/** The argv that runs `argv` in the site's network namespace only (host files, site network). */
export function siteNetCommand(site: LabSiteName, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${SITE_TOPOLOGY[site].netns}`, '--', ...argv];
}

export interface SpawnInSiteOptions {
  /** Key in the lab state (e.g. `worker`); a process already running under it is stopped first. */
  key: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output file (appended); defaults to `<home>/lab/<site>/<key>.log`. */
  logFile?: string;
  home?: string;
}

/**
 * Starts a detached long-lived process inside a site and records it (pid + start time) in the
 * lab state, so `kill-site`, `reset` and `down` end it by pid.
 */
export async function spawnInSite(
  site: LabSiteName,
  argv: readonly string[],
  opts: SpawnInSiteOptions,
): Promise<SpawnedProc> {
  return withLabLock(opts.home, async () => {
    const state = readState(opts.home);
    if (!state?.sites[site].libvirtd || state.sites[site].killed) {
      throw new LabError(
        'LAB_NOT_UP',
        `site ${site} is not running`,
        { site },
        'run `lifeboat lab up` first',
      );
    }
    const previous = state.sites[site].processes[opts.key];
    if (previous) await stopProc(previous);
    const log = opts.logFile ?? path.join(sitePaths(site, opts.home).root, `${opts.key}.log`);
    mkdirSync(path.dirname(log), { recursive: true });
    const fd = openSync(log, 'a');
    const [file, ...args] = siteCommand(site, argv, opts.home);
    const spawnOpts: SpawnOptions = {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
    };
    if (opts.cwd) spawnOpts.cwd = opts.cwd;
    const child = spawn(file!, args, spawnOpts);
    closeSync(fd);
    const pid = child.pid;
    child.unref();
    const ref = pid === undefined ? undefined : procRef(pid, `${opts.key} (${site})`);
    if (!ref) {
      throw new LabError(
        'COMMAND_FAILED',
        `could not start ${argv.join(' ')} in site ${site}`,
        { site, log },
        'see the log',
      );
    }
    const entry: SpawnedProc = { ...ref, argv: [...argv], log };
    state.sites[site].processes[opts.key] = entry;
    writeState(state, opts.home);
    return entry;
  });
}

/** Stops a process started with spawnInSite (SIGTERM, then SIGKILL) and forgets it. */
export async function stopInSite(site: LabSiteName, key: string, home?: string): Promise<boolean> {
  return withLabLock(home, async () => {
    const state = readState(home);
    const entry = state?.sites[site].processes[key];
    if (!state || !entry) return false;
    await stopProc(entry, 10_000);
    delete state.sites[site].processes[key];
    writeState(state, home);
    return true;
  });
}
