import { execFile } from 'node:child_process';
import { LabError } from './errors.ts';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program with an argument array (never a shell); never throws for a non-zero exit. */
export function tryRun(
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string } = {},
) {
  return new Promise<RunResult>((resolve) => {
    const child = execFile(
      file,
      [...args],
      {
        timeout: opts.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: number | string };
        const code = typeof e.code === 'number' ? e.code : null;
        resolve({ code, stdout: stdout ?? '', stderr: stderr || e.message });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a program and throws a LabError (with its stderr) when it fails. */
export async function run(
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string; hint?: string } = {},
): Promise<string> {
  const r = await tryRun(file, args, opts);
  if (r.code !== 0) {
    throw new LabError(
      'COMMAND_FAILED',
      `${file} ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      { exit: r.code ?? 'signal' },
      opts.hint ?? 'run `lifeboat lab status` and `lifeboat lab down`, then `lifeboat lab up` again',
    );
  }
  return r.stdout;
}
