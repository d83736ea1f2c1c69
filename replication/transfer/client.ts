/**
 * The secondary site's transfer client: pulls a transfer's files into a staging directory.
 * Every request has an idle timeout (a cut link otherwise hangs forever); failures are retried
 * with backoff; a partial file resumes from its local size with `Range` + `If-Range`, and the
 * validator it was fetched under is kept beside it, so a restarted worker resumes too. Each
 * file is fsynced, then its size and sha256 are checked against the primary's manifest.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rm, stat, truncate } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReplicationError } from '../errors.ts';
import { fsyncFile, sha256File, writeFileAtomic } from '../fsutil.ts';
import type { TlsMaterial } from '../tls.ts';
import {
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
  /** This site's certificate (mutual TLS) and the pinned CA. */
  tls: TlsMaterial;
  destDir: string;
  /** No byte for this long on a request = the link is gone: drop it and retry. */
  idleTimeoutMs?: number;
  /** Give up after this many consecutive failed attempts with no progress in between. */
  maxAttemptsWithoutProgress?: number;
  backoff?: { initialMs: number; maxMs: number };
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
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

/** Certificate problems do not heal by retrying; link problems do. */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function classifyRequestError(e: Error, baseUrl: string): Error {
  if (e instanceof ReplicationError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_')) {
    return new ReplicationError({
      code: 'TRANSFER_TLS',
      message: `TLS with ${baseUrl} failed: ${code} ${e.message}`,
      context: { baseUrl, tlsCode: code },
      hint: 'both sites must hold certificates from the same replication CA, naming the address used',
      retryable: false,
      cause: e,
    });
  }
  return e;
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

class Puller {
  private readonly agent: Agent;
  private running = new Map<string, RunningHash>();
  bytesReceived = 0;
  retries = 0;
  resumes = 0;

  constructor(private readonly o: PullOptions) {
    this.agent = new Agent({
      ca: o.tls.ca,
      cert: o.tls.cert,
      key: o.tls.key,
      keepAlive: true,
      maxSockets: 2,
      minVersion: 'TLSv1.3',
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Sends one request and hands over the response; the idle timer covers the whole body. */
  private send(
    path: string,
    headers: Record<string, string>,
  ): Promise<{ res: IncomingMessage; abort: () => void }> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.o.baseUrl), {
        agent: this.agent,
        method: 'GET',
        headers: { authorization: `Bearer ${this.o.token}`, ...headers },
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      });
      const idle = this.o.idleTimeoutMs ?? 30_000;
      req.setTimeout(idle, () => {
        req.destroy(
          new ReplicationError({
            code: 'TRANSFER_IDLE_TIMEOUT',
            message: `no data for ${idle} ms from ${this.o.baseUrl}`,
            context: { path, transferId: this.o.transferId },
            hint: 'the inter-site link is down or the primary is overloaded; retrying',
            retryable: true,
          }),
        );
      });
      req.on('error', (e) => reject(classifyRequestError(e, this.o.baseUrl)));
      req.on('response', (res) => resolve({ res, abort: () => req.destroy() }));
      req.end();
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
      const { res } = await this.send(manifestPath(this.o.transferId), {});
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      if (res.statusCode !== 200)
        throw httpError(res.statusCode ?? 0, 'manifest', { transferId: this.o.transferId });
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
    const headers: Record<string, string> =
      offset > 0 ? { range: `bytes=${offset}-`, 'if-range': f.etag } : {};
    const { res, abort } = await this.send(filePath(this.o.transferId, f.name), headers);
    const ctx = { transferId: this.o.transferId, file: f.name, offset };
    let flags: 'a' | 'w';
    if (res.statusCode === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (cr === null || cr.start !== offset || cr.size !== f.size) {
        abort();
        throw httpError(206, `unexpected Content-Range ${res.headers['content-range']}`, ctx);
      }
      this.resumes++;
      flags = 'a';
    } else if (res.statusCode === 200) {
      flags = 'w'; // If-Range failed or the server ignored the range: the whole file comes again
    } else {
      res.resume();
      if (res.statusCode === 416) {
        await truncate(path, 0).catch(() => undefined);
      }
      throw httpError(res.statusCode ?? 0, `file ${f.name}`, ctx);
    }
    let fileBytes = flags === 'a' ? offset : 0;
    // Bytes are hashed as they arrive; if what is on disk ever differs from what was hashed
    // (a failed write), the sizes disagree on the next attempt and the prefix is rehashed.
    let running = this.running.get(f.name);
    if (running === undefined || running.bytes !== fileBytes) {
      running = await hashPrefix(path, fileBytes);
      this.running.set(f.name, running);
    }
    const hashing = running;
    res.on('data', (c: Buffer) => {
      hashing.hash.update(c);
      hashing.bytes += c.length;
      this.bytesReceived += c.length;
      fileBytes += c.length;
      this.o.onProgress?.({ file: f.name, fileBytes, fileSize: f.size, bytesReceived: this.bytesReceived });
    });
    await pipeline(res, createWriteStream(path, { flags, highWaterMark: 1024 * 1024 }));
    if (!res.complete) {
      throw new ReplicationError({
        code: 'TRANSFER_HTTP',
        message: `file ${f.name}: the response ended early`,
        context: ctx,
        hint: 'the link dropped; retrying',
        retryable: true,
      });
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
  try {
    const manifest = await p.fetchManifest();
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
  } finally {
    p.close();
  }
}
