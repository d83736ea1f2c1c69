/** Crash-safe file writes and a per-directory lock for the report store. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from '../platform/processes.ts';
import { writeFileAtomic as writeAtomic } from '../replication/fsutil.ts';

/** replication/fsutil's atomic write, creating the directory first. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeAtomic(file, text);
}

/** Runs `fn` holding `<dir>/.lock`; a lock left by a dead process is broken. */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = path.join(dir, '.lock');
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt((await readFile(lock, 'utf8').catch(() => '')).trim() || '0', 10);
      if (!holder || !isAlive(holder) || Date.now() > deadline) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
