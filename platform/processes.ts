import { type SpawnOptions, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Small helpers for the detached processes Lifeboat manages by pid file (never by name). */

export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by its parent) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z';
  } catch {
    return true;
  }
}

/** The process's argv, so a recycled pid is not mistaken for ours. */
export function processArgv(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s.length > 0);
  } catch {
    return undefined;
  }
}

/** A pid file's live process, if its command line still contains `marker`. */
export function livePidFromFile(file: string, marker: string): number | undefined {
  const pid = readPidFile(file);
  if (pid === undefined || !isAlive(pid)) return undefined;
  const argv = processArgv(pid);
  if (argv && !argv.some((a) => a.includes(marker))) return undefined;
  return pid;
}

export interface DetachedProcess {
  pid: number;
  logFile: string;
}

/** Starts a process in its own session, output appended to a log file, and writes its pid file. */
export function spawnDetached(
  command: string,
  args: string[],
  opts: { logFile: string; pidFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): DetachedProcess {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  mkdirSync(path.dirname(opts.pidFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  const spawnOpts: SpawnOptions = {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  };
  const child = spawn(command, args, spawnOpts);
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  child.unref();
  writeFileSync(opts.pidFile, `${child.pid}\n`);
  return { pid: child.pid, logFile: opts.logFile };
}

/**
 * Stops a process by pid: SIGTERM, then SIGKILL after `graceMs`. Resolves to true when it was
 * running. Removes the pid file when given.
 */
export async function stopPid(
  pid: number,
  opts: { graceMs?: number; pidFile?: string } = {},
): Promise<boolean> {
  const graceMs = opts.graceMs ?? 15_000;
  let wasRunning = isAlive(pid);
  if (wasRunning) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      wasRunning = false;
    }
  }
  const deadline = Date.now() + graceMs;
  while (wasRunning && isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (wasRunning && isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    while (isAlive(pid)) await sleep(50);
  }
  if (opts.pidFile) rmSync(opts.pidFile, { force: true });
  return wasRunning;
}

/** The last lines of a log file, for error messages. */
export function tailFile(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
