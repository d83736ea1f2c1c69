import { execFile } from 'node:child_process';

/** What one finished (or killed) process produced. Never throws for a non-zero exit. */
export interface CommandResult {
  /** Exit code; null when the process was killed or could not be spawned. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when our timeout killed it. */
  timedOut: boolean;
}

/**
 * How the driver runs programs. Injectable so tests can prove that refused input never spawns
 * a process, and so a site worker could run virsh through another launcher.
 */
export type RunCommand = (
  file: string,
  args: readonly string[],
  opts: { timeoutMs: number },
) => Promise<CommandResult>;

export const runCommand: RunCommand = (file, args, opts) =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      {
        timeout: opts.timeoutMs,
        // SIGKILL: a virsh stuck on a dead socket ignores nothing, but SIGTERM can be slow.
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ code: 0, stdout, stderr, timedOut: false });
          return;
        }
        const e = err as NodeJS.ErrnoException & {
          killed?: boolean;
          signal?: NodeJS.Signals | null;
          code?: number | string;
        };
        const timedOut = e.killed === true && e.signal === 'SIGKILL';
        const code = typeof e.code === 'number' ? e.code : null;
        const spawnError = typeof e.code === 'string' ? `${file}: ${e.code} ${e.message}` : '';
        resolve({ code, stdout: stdout ?? '', stderr: stderr || spawnError, timedOut });
      },
    );
  });
