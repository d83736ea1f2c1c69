import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import type { LabSiteName } from '../../lab/config.ts';
import { siteNetCommand } from '../../lab/exec.ts';
import { labDown, labReset, labStartWorkers, labStopWorkers, labUp } from '../../lab/lab.ts';
import { tryRun } from '../../lab/run.ts';
import { resolveLabRunbook } from '../../lab/runbook.ts';
import { readState } from '../../lab/state.ts';
import { type LabStatus, labStatus } from '../../lab/status.ts';

const pexec = promisify(execFile);

/**
 * Every lab-using test file starts from the lab's freshly-up state: `lab reset` when the lab is
 * up with the same runbook, otherwise `lab up` (which switches runbooks as needed). A reset that
 * fails falls back to down + up, so one broken file does not break the next.
 */
export async function ensureFreshLab(opts: { runbook?: string; workers?: boolean } = {}): Promise<LabStatus> {
  const runbook = resolveLabRunbook(opts.runbook);
  const state = readState();
  let fresh = false;
  if (state?.ready && state.runbook === runbook) {
    try {
      await labReset();
      fresh = true;
    } catch {
      await labDown();
    }
  }
  if (!fresh) await labUp({ runbook });
  // Site workers (lifeboat worker site <name>) inside each site, reaching Temporal via the relay.
  if (opts.workers) await labStartWorkers();
  else if (readState()?.workers) await labStopWorkers();
  return labStatus();
}

/** Pids among `pids` that ps still lists as live processes (zombies awaiting reaping excluded). */
export async function livePids(pids: number[]): Promise<number[]> {
  if (pids.length === 0) return [];
  try {
    const { stdout } = await pexec('ps', ['-o', 'pid=,stat=', '-p', pids.join(',')]);
    return stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length === 2 && !f[1]!.startsWith('Z'))
      .map((f) => Number(f[0]));
  } catch {
    // ps exits 1 when none of the pids exists.
    return [];
  }
}

/** Whether a TCP connection from inside a site's network namespace to host:port succeeds. */
export async function tcpConnects(site: LabSiteName, host: string, port: number): Promise<boolean> {
  const [f, ...a] = siteNetCommand(site, [
    'socat',
    '-T',
    '2',
    '/dev/null',
    `TCP:${host}:${port},connect-timeout=2`,
  ]);
  const r = await tryRun(f!, a, { timeoutMs: 10_000 });
  return r.code === 0;
}

/** sha256 and mtime of each file, to prove that disks stop changing. */
export function fingerprint(files: string[]): Array<{ file: string; sha256: string; mtimeMs: number }> {
  return files.map((file) => ({
    file,
    sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
    mtimeMs: statSync(file).mtimeMs,
  }));
}
