import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A process the lab started, by pid plus its kernel start time: a recycled pid never matches,
 * so the lab can only ever signal what it started itself.
 */
export interface ProcRef {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  startTime: string;
  /** What it is, for people reading `lab status`. */
  what: string;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; everything after the last ')' is safe.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The reference for a live pid, or undefined when it is gone. */
export function procRef(pid: number, what: string): ProcRef | undefined {
  const f = statFields(pid);
  if (!f || f[0] === 'Z') return undefined;
  // After the name, field 3 (state) is index 0, so field 22 (starttime) is index 19.
  const startTime = f[19];
  return startTime ? { pid, startTime, what } : undefined;
}

/** True while the very process `ref` names is running (not a zombie, not a recycled pid). */
export function isRunning(ref: ProcRef | undefined): ref is ProcRef {
  if (!ref) return false;
  const f = statFields(ref.pid);
  return f !== undefined && f[0] !== 'Z' && f[19] === ref.startTime;
}

export function signal(ref: ProcRef | undefined, sig: NodeJS.Signals): boolean {
  if (!isRunning(ref)) return false;
  try {
    process.kill(ref.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signals the process group that `ref` leads (the lab spawns its processes detached, so each one
 * leads its own), only while that very process still runs.
 */
export function signalGroup(ref: ProcRef | undefined, sig: NodeJS.Signals): boolean {
  if (!isRunning(ref)) return false;
  try {
    process.kill(-ref.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of `refs` runs; false on timeout. */
export async function waitGone(refs: Array<ProcRef | undefined>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (refs.some((r) => isRunning(r))) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProc(ref: ProcRef | undefined, graceMs = 5_000): Promise<void> {
  if (!signal(ref, 'SIGTERM')) return;
  if (await waitGone([ref], graceMs)) return;
  signal(ref, 'SIGKILL');
  await waitGone([ref], 5_000);
}
