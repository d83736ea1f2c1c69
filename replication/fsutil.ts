import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { runProcess } from './exec.ts';

/** Flushes a file's data and metadata to stable storage. */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a directory's entries (creations, renames) durable. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` atomically: a reader sees the old content or the new, never a torn file,
 * even if the process dies mid-write. The temp name is unique so concurrent writers never
 * share a temp file.
 */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

export interface FileDigest {
  sha256: string;
  size: number;
}

/**
 * Files from this size on are hashed by `openssl dgst` in a process of its own: SHA-NI there
 * (~1.5 GB/s here, Node's streamed hash ~0.5 GB/s) and off the event loop, so a commit's file
 * hash runs on the other core beside its content digest instead of taking turns with it.
 */
const OPENSSL_FROM_BYTES = 32 * 1024 * 1024;

async function opensslSha256(path: string): Promise<string | null> {
  const r = await runProcess('openssl', ['dgst', '-sha256', '-r', resolvePath(path)]).catch(() => null);
  const m = r?.exitCode === 0 ? /^([0-9a-f]{64}) /.exec(r.stdout) : null;
  return m?.[1] ?? null;
}

export async function sha256File(path: string): Promise<FileDigest> {
  const before = await stat(path);
  if (before.size >= OPENSSL_FROM_BYTES) {
    const sha256 = await opensslSha256(path);
    const after = await stat(path);
    // Only a file that did not change under the hash (else, or without openssl, hashed here).
    if (sha256 !== null && after.size === before.size && after.mtimeMs === before.mtimeMs)
      return { sha256, size: after.size };
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    const buf = chunk as Buffer;
    size += buf.length;
    hash.update(buf);
  }
  return { sha256: hash.digest('hex'), size };
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Gives `to` the bytes of `from` without copying them where it can (a hard link on the same
 * file system, so a file two points share is stored once); a copy, renamed into place, where it
 * cannot. Nothing to do when `to` exists.
 */
export async function linkOrCopy(from: string, to: string): Promise<void> {
  if (await exists(to)) return;
  try {
    await link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const tmp = `${to}.tmp-${randomBytes(4).toString('hex')}`;
    await copyFile(from, tmp);
    await rename(tmp, to);
  }
}
