/**
 * The secondary site's transfer client: pulls a transfer's files into a staging directory.
 * Requests are made by curl (curl.ts); every one has an idle timeout (a cut link otherwise
 * hangs forever); failures are retried with backoff; a partial file resumes from its local size
 * with `Range` + `If-Range`, and the validator it was fetched under is kept beside it, so a
 * restarted worker resumes too. Each file is fsynced, then its size and sha256 are checked
 * against the primary's manifest.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReplicationError } from '../errors.ts';
import { fsyncFile, sha256File, writeFileAtomic } from '../fsutil.ts';
import type { TlsFiles } from '../tls.ts';
import { type FileResponse, type LinkResponse, linkGet, linkGetToFile } from './curl.ts';
import {
  fileEtag,
  filePath,
  manifestPath,
  parseContentRange,
  type TransferFile,
  type TransferManifest,
  transferManifestSchema,
} from './protocol.ts';

export interface PullProgress {
  file: string;
  fileBytes: number;
  fileSize: number;
  /** Body bytes received over the link by this pull so far (all files, all attempts). */
  bytesReceived: number;
}

export interface PullOptions {
  /** `https://host:port` of the primary's transfer server. */
  baseUrl: string;
  transferId: string;
  token: string;
  /** This site's certificate and key (mutual TLS) and the pinned CA, as files. */
  tls: TlsFiles;
  destDir: string;
  /** No byte for this long on a request = the link is gone: drop it and retry. */
  idleTimeoutMs?: number;
  /** Give up after this many consecutive failed attempts with no progress in between. */
  maxAttemptsWithoutProgress?: number;
  backoff?: { initialMs: number; maxMs: number };
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  /**
   * The files as the primary registered them, when the caller knows them (the export's result
   * names each with its digest and size): the manifest is then not fetched, one request less.
   */
  files?: ReadonlyArray<{ name: string; sha256: string; size: number }>;
}

export interface PulledFile {
  name: string;
  size: number;
  sha256: string;
  /** Already complete and verified from an earlier run: nothing fetched. */
  alreadyPresent: boolean;
}

export interface PullResult {
  manifest: TransferManifest;
  files: PulledFile[];
  bytesReceived: number;
  /** Requests that failed and were retried. */
  retries: number;
  /** Requests that continued a partial file with a Range. */
  resumes: number;
}

/** Kept beside a file while it arrives: which version the local bytes belong to. */
interface FileState {
  etag: string;
  verifiedSha256?: string;
}

function statePath(dir: string, name: string): string {
  return join(dir, `.${name}.transfer.json`);
}

async function readState(dir: string, name: string): Promise<FileState | null> {
  try {
    return JSON.parse(await readFile(statePath(dir, name), 'utf8')) as FileState;
  } catch {
    return null;
  }
}

async function localSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

function httpError(status: number, what: string, context: Record<string, unknown>): ReplicationError {
  const permanent = status === 403 || status === 404 || status === 405;
  return new ReplicationError({
    code: 'TRANSFER_HTTP',
    message: `${what}: HTTP ${status}`,
    context: { ...context, status },
    hint:
      status === 403
        ? 'the transfer token was refused, or the transfer is no longer registered at the primary'
        : status === 409
          ? 'the export changed at the primary; start the transfer again'
          : 'see the primary worker log',
    retryable: !permanent,
  });
}

/** A running sha256 of a file's first `bytes` bytes, so a finished file needs no second read. */
interface RunningHash {
  hash: Hash;
  bytes: number;
}

async function hashPrefix(path: string, bytes: number): Promise<RunningHash> {
  const hash = createHash('sha256');
  if (bytes > 0) {
    for await (const c of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1024 * 1024 })) {
      hash.update(c as Buffer);
    }
  }
  return { hash, bytes };
}

/** How much of a growing file the follower reads at once, and how long it waits for more. */
const FOLLOW_CHUNK = 4 * 1024 * 1024;
const FOLLOW_IDLE_MS = 10;

/**
 * Hashes a file as curl appends to it (one pass, from the page cache, overlapping the
 * transfer): `onBytes` hears each growth. `stop()` hashes what is left and ends it.
 */
function followFile(
  path: string,
  running: RunningHash,
  onBytes: (n: number) => void,
): { stop(): Promise<void> } {
  let finished = false;
  const done = (async () => {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(FOLLOW_CHUNK);
      for (;;) {
        const last = finished;
        const { bytesRead } = await fh.read(buf, 0, buf.length, running.bytes);
        if (bytesRead > 0) {
          running.hash.update(buf.subarray(0, bytesRead));
          running.bytes += bytesRead;
          onBytes(bytesRead);
          continue;
        }
        // Read once more after curl ended: everything it wrote is then in the file.
        if (last) return;
        await sleep(FOLLOW_IDLE_MS);
      }
    } finally {
      await fh.close();
    }
  })();
  return {
    async stop() {
      finished = true;
      await done;
    },
  };
}

class Puller {
  private running = new Map<string, RunningHash>();
  bytesReceived = 0;
  retries = 0;
  resumes = 0;

  constructor(private readonly o: PullOptions) {}

  /** Sends one request; the idle timer covers the whole exchange. */
  private send(path: string, headers: Record<string, string>): Promise<LinkResponse> {
    return linkGet({
      url: new URL(path, this.o.baseUrl).href,
      token: this.o.token,
      headers,
      tls: this.o.tls,
      idleTimeoutMs: this.o.idleTimeoutMs ?? 30_000,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
  }

  /** Retries `fn` with backoff; the failure budget resets whenever an attempt made progress. */
  async withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const max = this.o.maxAttemptsWithoutProgress ?? 8;
    const { initialMs, maxMs } = this.o.backoff ?? { initialMs: 200, maxMs: 10_000 };
    let failures = 0;
    for (;;) {
      const before = this.bytesReceived;
      try {
        return await fn();
      } catch (e) {
        if (this.o.signal?.aborted) throw e;
        if (e instanceof ReplicationError && !e.retryable) throw e;
        failures = this.bytesReceived > before ? 1 : failures + 1;
        if (failures >= max) {
          throw new ReplicationError({
            code: 'TRANSFER_GAVE_UP',
            message: `${what}: ${failures} attempts failed without progress; last: ${e instanceof Error ? e.message : String(e)}`,
            context: { transferId: this.o.transferId, baseUrl: this.o.baseUrl },
            hint: 'check the inter-site link; running the transfer again resumes where it stopped',
            retryable: true,
            cause: e,
          });
        }
        this.retries++;
        const delay = Math.min(maxMs, initialMs * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
        await sleep(delay, undefined, this.o.signal ? { signal: this.o.signal } : {});
      }
    }
  }

  async fetchManifest(): Promise<TransferManifest> {
    return this.withRetries('fetching the transfer manifest', async () => {
      const res = await this.send(manifestPath(this.o.transferId), {});
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c);
      await res.done;
      if (res.status !== 200) throw httpError(res.status, 'manifest', { transferId: this.o.transferId });
      return transferManifestSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    });
  }

  /** One request: continues the file from its local size (or starts over when told to). */
  async fetchOnce(f: TransferFile, path: string): Promise<void> {
    const state = await readState(this.o.destDir, f.name);
    let offset = await localSize(path);
    if (offset > f.size || (offset > 0 && state?.etag !== f.etag)) {
      // Local bytes of another version (or too many): they cannot be continued.
      await truncate(path, 0);
      offset = 0;
    }
    if (offset === f.size) return;
    if (state?.etag !== f.etag)
      await writeFileAtomic(statePath(this.o.destDir, f.name), JSON.stringify({ etag: f.etag }));
    const ctx = { transferId: this.o.transferId, file: f.name, offset };
    // Bytes are hashed as curl writes them; if what is on disk ever differs from what was
    // hashed (a failed attempt), the sizes disagree on the next attempt and the prefix is rehashed.
    let running = this.running.get(f.name);
    if (running === undefined || running.bytes !== offset) {
      running = await hashPrefix(path, offset);
      this.running.set(f.name, running);
    }
    if (offset === 0) await (await open(path, 'w')).close();
    const follower = followFile(path, running, (n) => {
      this.bytesReceived += n;
      this.o.onProgress?.({
        file: f.name,
        fileBytes: running.bytes,
        fileSize: f.size,
        bytesReceived: this.bytesReceived,
      });
    });
    let res: FileResponse;
    try {
      res = await linkGetToFile({
        url: new URL(filePath(this.o.transferId, f.name), this.o.baseUrl).href,
        token: this.o.token,
        // curl sends the Range itself (--continue-at).
        headers: offset > 0 ? { 'if-range': f.etag } : {},
        tls: this.o.tls,
        idleTimeoutMs: this.o.idleTimeoutMs ?? 30_000,
        path,
        resumeFrom: offset,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      });
    } catch (e) {
      await follower.stop();
      if (e instanceof ReplicationError && e.code === 'TRANSFER_RESTART') {
        await truncate(path, 0);
        this.running.delete(f.name);
      }
      throw e;
    }
    await follower.stop();
    if (res.status === 206 && offset > 0) {
      const cr = parseContentRange(res.headers['content-range']);
      if (cr === null || cr.start !== offset || cr.size !== f.size) {
        // What curl appended belongs to some other range: drop it.
        await truncate(path, offset);
        this.running.delete(f.name);
        throw httpError(206, `unexpected Content-Range ${res.headers['content-range']}`, ctx);
      }
      this.resumes++;
    } else if (res.status !== 200 || offset > 0) {
      if (res.status === 416) await truncate(path, 0).catch(() => undefined);
      throw httpError(res.status, `file ${f.name}`, ctx);
    }
  }

  async pullFile(f: TransferFile): Promise<PulledFile> {
    const path = join(this.o.destDir, f.name);
    const state = await readState(this.o.destDir, f.name);
    if (state?.etag === f.etag && state.verifiedSha256 === f.sha256 && (await localSize(path)) === f.size) {
      return { name: f.name, size: f.size, sha256: f.sha256, alreadyPresent: true };
    }
    for (let integrityFailures = 0; ; ) {
      await this.withRetries(`pulling ${f.name}`, () => this.fetchOnce(f, path));
      // An empty file is never written by a body; make sure it exists.
      if (f.size === 0) await (await open(path, 'a')).close();
      await fsyncFile(path);
      const running = this.running.get(f.name);
      this.running.delete(f.name);
      const got =
        running !== undefined && running.bytes === f.size && (await localSize(path)) === f.size
          ? { size: f.size, sha256: running.hash.digest('hex') }
          : await sha256File(path);
      if (got.size === f.size && got.sha256 === f.sha256) {
        await writeFileAtomic(
          statePath(this.o.destDir, f.name),
          JSON.stringify({ etag: f.etag, verifiedSha256: f.sha256 } satisfies FileState),
        );
        return { name: f.name, size: f.size, sha256: f.sha256, alreadyPresent: false };
      }
      await rm(path, { force: true });
      await rm(statePath(this.o.destDir, f.name), { force: true });
      if (++integrityFailures >= 2) {
        throw new ReplicationError({
          code: 'TRANSFER_INTEGRITY',
          message: `${f.name}: received ${got.size} bytes with sha256 ${got.sha256}; the primary says ${f.size} bytes, ${f.sha256}`,
          context: { transferId: this.o.transferId, file: f.name },
          hint: 'the export changed at the primary or the data is corrupted in flight; restart the cycle',
          retryable: true,
        });
      }
    }
  }
}

/** Pulls every file of a transfer into `destDir`; safe to run again after any interruption. */
export async function pullTransfer(o: PullOptions): Promise<PullResult> {
  const p = new Puller(o);
  const manifest =
    o.files === undefined
      ? await p.fetchManifest()
      : {
          transferId: o.transferId,
          files: o.files.map((f) => ({ name: f.name, sha256: f.sha256, size: f.size, etag: fileEtag(f) })),
        };
  if (manifest.transferId !== o.transferId) {
    throw new ReplicationError({
      code: 'TRANSFER_INTEGRITY',
      message: `asked for transfer ${o.transferId}, the primary answered for ${manifest.transferId}`,
      context: { transferId: o.transferId },
      hint: 'a bug at the primary',
    });
  }
  const files: PulledFile[] = [];
  for (const f of manifest.files) files.push(await p.pullFile(f));
  return { manifest, files, bytesReceived: p.bytesReceived, retries: p.retries, resumes: p.resumes };
}
