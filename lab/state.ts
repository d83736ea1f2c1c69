import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LabSiteName, labPaths } from './config.ts';
import { LabError } from './errors.ts';
import { isRunning, type ProcRef, procRef } from './proc.ts';

/**
 * Everything the lab created, recorded as it is created, so `down`, `kill-site` and `reset`
 * act only on what the lab started (processes by pid + start time, interfaces and namespaces by
 * name, files by path) and `down` is safe to run twice or after a crash half-way through `up`.
 */
export interface LabVm {
  name: string;
  group: string;
  site: LabSiteName;
  /** Domain name on its site (on the primary, exactly the runbook's VM name). */
  domain: string;
  address: string;
  dataDisks: number;
  /** Disk files as the host sees them (system first, then data disks). */
  disks: string[];
  /** Serial log as the host sees it. */
  serialLog: string;
}

export interface SpawnedProc extends ProcRef {
  argv: string[];
  log: string;
}

export interface SiteState {
  netns?: string;
  /** The persistent mount namespace's bind file. */
  mntns?: string;
  /** The guest directory bind-mounted (read-only) at SITE_GUEST_PATH inside the site. */
  guestDir?: string;
  /** Interfaces created on the host for this site. */
  hostInterfaces: string[];
  virtlogd?: ProcRef;
  libvirtd?: ProcRef;
  /** Long-lived processes started inside the site (`spawnInSite`), by key (e.g. `worker`). */
  processes: Record<string, SpawnedProc>;
  /** Set by kill-site; cleared when the site is started again. */
  killed?: boolean;
  isolated?: boolean;
}

export interface LabState {
  version: 1;
  /** Empty directories the lab created on the host as mount points, removed by `down`. */
  hostDirs: string[];
  nsDirMounted: boolean;
  bridge?: string;
  interLink?: boolean;
  cut?: boolean;
  /** `args`: socat's arguments, so a relay started with other ones is replaced. */
  relay?: ProcRef & { listen: string; target: string; args?: string[] };
  guest?: { hash: string; dir: string };
  runbook?: string;
  vms: LabVm[];
  sites: Record<LabSiteName, SiteState>;
  /** Whether site workers belong to the lab's fresh state (reset restarts them). */
  workers?: boolean;
  /** Set when `lab up` finished: every VM booted and the golden images exist. */
  ready?: { at: string; upMs: number };
}

export function emptyState(): LabState {
  return {
    version: 1,
    hostDirs: [],
    nsDirMounted: false,
    vms: [],
    sites: {
      primary: { hostInterfaces: [], processes: {} },
      secondary: { hostInterfaces: [], processes: {} },
    },
  };
}

export function readState(home?: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(labPaths(home).state, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(state: LabState, home?: string): void {
  const file = labPaths(home).state;
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

export function removeState(home?: string): void {
  rmSync(labPaths(home).state, { force: true });
}

/**
 * Runs `fn` holding the lab's lock (a file naming the holder), so two lab commands never
 * rearrange namespaces at the same time. A lock whose holder died is taken over.
 */
export async function withLabLock<T>(
  home: string | undefined,
  fn: () => Promise<T>,
  waitMs = 600_000,
): Promise<T> {
  const file = labPaths(home).lock;
  mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + waitMs;
  const me = procRef(process.pid, 'lab command');
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, JSON.stringify(me));
      closeSync(fd);
      break;
    } catch {
      let holder: ProcRef | undefined;
      try {
        holder = JSON.parse(readFileSync(file, 'utf8')) as ProcRef;
      } catch {
        holder = undefined;
      }
      // Re-entrant: a lab command may call helpers that take the lock themselves.
      if (holder?.pid === process.pid) return fn();
      if (!isRunning(holder)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new LabError(
          'LAB_BUSY',
          'another lab command is running',
          { pid: holder.pid },
          'wait for it to finish',
        );
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
