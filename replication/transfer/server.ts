/**
 * The primary site's transfer server: serves the staged export files of registered transfers
 * over HTTPS (mutual TLS with per-site certificates), each transfer authorised by its own
 * bearer token, derived from the transfer key, this site's name, the transfer id and the
 * registration's nonce (`transferToken`): the token itself never leaves the two workers.
 * Supports Range + If-Range so a cut transfer resumes where it stopped; refuses
 * to serve a file that changed since it was registered (its digest would no longer hold).
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { ReplicationError } from '../errors.ts';
import { fsyncDir, sha256File, writeFileAtomic } from '../fsutil.ts';
import { safeNameSchema } from '../manifest.ts';
import type { TlsMaterial } from '../tls.ts';
import {
  decideRange,
  fileEtag,
  hashToken,
  parseRoute,
  type TransferManifest,
  tokenMatches,
  transferFileSchema,
  transferToken,
} from './protocol.ts';

export interface ServedFileInput {
  /** Name the secondary stores it under. */
  name: string;
  /** Path of the staged export file on the primary. */
  path: string;
  /** Digest if the caller already has it (saves a hash of the file). */
  digest?: { sha256: string; size: number };
}

const servedFileSchema = transferFileSchema.extend({
  path: z.string(),
  mtimeMs: z.number(),
  ino: z.number(),
});
type ServedFile = z.infer<typeof servedFileSchema>;

/** A registration as kept on disk, so a restarted primary worker serves the same transfers. */
const stateSchema = z.object({
  transferId: z.string(),
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(servedFileSchema),
});

interface Registered {
  tokenHash: Buffer;
  files: Map<string, ServedFile>;
  bytesSent: number;
  requests: number;
}

export interface TransferStats {
  bytesSent: number;
  requests: number;
}

export class TransferServer {
  private readonly transfers = new Map<string, Registered>();

  private constructor(
    private readonly server: Server,
    readonly host: string,
    private readonly stateDir: string | null,
    /** The site this server serves for: part of every token it accepts. */
    readonly site: string,
    private readonly transferKey: Buffer,
  ) {}

  static async start(opts: {
    tls: TlsMaterial;
    host: string;
    port?: number;
    /** Mutual TLS: only a holder of a certificate from the pinned CA may connect. */
    requireClientCert?: boolean;
    /** Where registrations are kept across restarts (token digests only, never tokens). */
    stateDir?: string;
    /** This site's name and the transfer key both sites hold: tokens are derived from them. */
    site: string;
    transferKey: Buffer;
  }): Promise<TransferServer> {
    const requireClientCert = opts.requireClientCert ?? true;
    const server = createServer({
      key: opts.tls.key,
      cert: opts.tls.cert,
      ca: opts.tls.ca,
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
      minVersion: 'TLSv1.3',
    });
    safeNameSchema.parse(opts.site);
    const ts = new TransferServer(server, opts.host, opts.stateDir ?? null, opts.site, opts.transferKey);
    await ts.loadState();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      ts.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`internal error: ${e instanceof Error ? e.message : String(e)}\n`);
        } else {
          res.destroy();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return ts;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `https://${h}:${this.port}`;
  }

  /**
   * Makes files downloadable under a transfer id. Idempotent: registering the same id again
   * (a retried activity) replaces the entry and recomputes what changed. The token is the one
   * derived for `nonce` (a fresh one per registration, so a re-registration gets a new token).
   */
  async register(input: {
    transferId: string;
    nonce: string;
    files: ServedFileInput[];
  }): Promise<TransferManifest> {
    safeNameSchema.parse(input.transferId);
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(input.nonce))
      throw new Error('a transfer nonce is 16-64 base64url characters');
    const files = new Map<string, ServedFile>();
    for (const f of input.files) {
      safeNameSchema.parse(f.name);
      const st = await stat(f.path);
      const digest = f.digest ?? (await sha256File(f.path));
      if (digest.size !== st.size) {
        throw new ReplicationError({
          code: 'TRANSFER_INTEGRITY',
          message: `${f.path} is ${st.size} bytes, its digest says ${digest.size}`,
          context: { path: f.path },
          hint: 'the export file changed after it was hashed',
        });
      }
      files.set(f.name, {
        name: f.name,
        size: st.size,
        sha256: digest.sha256,
        etag: fileEtag({ sha256: digest.sha256, size: st.size }),
        path: f.path,
        mtimeMs: st.mtimeMs,
        ino: st.ino,
      });
    }
    const prev = this.transfers.get(input.transferId);
    const tokenHash = hashToken(
      transferToken(this.transferKey, { site: this.site, transferId: input.transferId, nonce: input.nonce }),
    );
    if (this.stateDir !== null) {
      const state: z.infer<typeof stateSchema> = {
        transferId: input.transferId,
        tokenSha256: tokenHash.toString('hex'),
        files: [...files.values()],
      };
      await mkdir(this.stateDir, { recursive: true });
      await writeFileAtomic(join(this.stateDir, `${input.transferId}.json`), JSON.stringify(state));
    }
    this.transfers.set(input.transferId, {
      tokenHash,
      files,
      bytesSent: prev?.bytesSent ?? 0,
      requests: prev?.requests ?? 0,
    });
    return this.manifestOf(input.transferId, files);
  }

  async unregister(transferId: string): Promise<{ removed: boolean }> {
    safeNameSchema.parse(transferId);
    const removed = this.transfers.delete(transferId);
    if (this.stateDir !== null) {
      await rm(join(this.stateDir, `${transferId}.json`), { force: true });
      // Only a registration that existed left a state file whose removal must be durable.
      if (removed) await fsyncDir(this.stateDir).catch(() => undefined);
    }
    return { removed };
  }

  private async loadState(): Promise<void> {
    if (this.stateDir === null) return;
    let names: string[];
    try {
      names = await readdir(this.stateDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const parsed = stateSchema.safeParse(JSON.parse(await readFile(join(this.stateDir, name), 'utf8')));
      // A state file that does not parse was not written by us: skip rather than refuse to start.
      if (!parsed.success) continue;
      this.transfers.set(parsed.data.transferId, {
        tokenHash: Buffer.from(parsed.data.tokenSha256, 'hex'),
        files: new Map(parsed.data.files.map((f) => [f.name, f])),
        bytesSent: 0,
        requests: 0,
      });
    }
  }

  stats(transferId: string): TransferStats | null {
    const t = this.transfers.get(transferId);
    return t === undefined ? null : { bytesSent: t.bytesSent, requests: t.requests };
  }

  /** Stops listening and drops every open connection (what a cut link looks like to the client). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private manifestOf(transferId: string, files: Map<string, ServedFile>): TransferManifest {
    return {
      transferId,
      files: [...files.values()].map(({ name, size, sha256, etag }) => ({ name, size, sha256, etag })),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    const route = parseRoute(req.url ?? '');
    if (route.kind === 'unknown') return send(404, 'not found');
    const t = this.transfers.get(route.transferId);
    // One answer for an unknown transfer and a wrong token: a token is the only proof asked.
    if (t === undefined || !tokenMatches(req.headers.authorization, t.tokenHash))
      return send(403, 'forbidden');
    t.requests++;
    if (route.kind === 'manifest') {
      const body = JSON.stringify(this.manifestOf(route.transferId, t.files));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const f = t.files.get(route.name);
    if (f === undefined) return send(404, 'no such file in this transfer');
    const st = await stat(f.path);
    if (st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ino !== f.ino) {
      return send(409, 'the export file changed since it was registered');
    }
    const ifRange = req.headers['if-range'];
    const decision = decideRange(
      req.headers.range,
      typeof ifRange === 'string' ? ifRange : undefined,
      f.size,
      f.etag,
    );
    const common = { etag: f.etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (decision.kind === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': `bytes */${f.size}` });
      res.end();
      return;
    }
    const start = decision.kind === 'partial' ? decision.start : 0;
    const end = decision.kind === 'partial' ? decision.end : f.size - 1;
    const length = f.size === 0 ? 0 : end - start + 1;
    res.writeHead(decision.kind === 'partial' ? 206 : 200, {
      ...common,
      'content-length': length,
      ...(decision.kind === 'partial' ? { 'content-range': `bytes ${start}-${end}/${f.size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    const stream = createReadStream(f.path, { start, end, highWaterMark: 1024 * 1024 });
    stream.on('data', (chunk) => {
      t.bytesSent += (chunk as Buffer).length;
    });
    res.on('close', () => stream.destroy());
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }
}
