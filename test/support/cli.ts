import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../platform/home.ts';

/** Runs the real `lifeboat` CLI as a child process; resolves with its exit code and output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'lifeboat.mjs'), ...args],
      { env, cwd: REPO_ROOT, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The environment without any TEMPORAL_* variable, so the CLI uses its embedded server. */
export function embeddedEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
  return { ...env, ...extra };
}
