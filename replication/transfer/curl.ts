/**
 * One HTTPS GET of the inter-site link, made by curl: Node's TLS client hands each 16 KiB TLS
 * record to JavaScript and measured ~3 s per GiB of CPU here, curl (OpenSSL in one native
 * loop) ~0.7 s. curl pins the deployment's CA (never the system store), presents the site's
 * certificate, and ends a request that carries no byte for the idle time. The token goes in
 * on stdin (`--config -`), so it never appears in a process listing. The response headers
 * come first on stdout (`--dump-header -`), then the body.
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { ReplicationError } from '../errors.ts';
import type { TlsFiles } from '../tls.ts';

export interface LinkRequest {
  url: string;
  token: string;
  headers: Record<string, string>;
  tls: TlsFiles;
  idleTimeoutMs: number;
  signal?: AbortSignal;
}

export interface LinkResponse {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  /** The body as it arrives; iterate it to the end (or call `abort`). */
  body: AsyncIterable<Buffer>;
  /** Resolves when curl ends cleanly; rejects with a classified error otherwise. */
  done: Promise<void>;
  abort(): void;
}

/** Certificate problems do not heal by retrying (curl's exit codes for them). */
const TLS_EXIT_CODES = new Map<number, string>([
  [58, 'the local certificate or key could not be used'],
  [60, "the peer's certificate is not signed by the pinned CA, or does not name the address"],
  [77, 'the pinned CA certificate could not be read'],
  [83, 'the issuer check failed'],
  [91, 'the certificate status is invalid'],
]);

const TOKEN = /^[A-Za-z0-9_-]+$/;
const HEADER_VALUE = /^[\x20-\x7e]*$/;

function failure(code: number, stderr: string, req: LinkRequest): ReplicationError {
  const context = { url: req.url, curlExit: code, stderr: stderr.trim().slice(0, 2000) };
  const tls = TLS_EXIT_CODES.get(code);
  if (tls !== undefined) {
    return new ReplicationError({
      code: 'TRANSFER_TLS',
      message: `TLS with ${new URL(req.url).origin} failed: ${tls} (${stderr.trim()})`,
      context,
      hint: 'both sites must hold certificates from the same replication CA, naming the address used',
      retryable: false,
    });
  }
  if (code === 28) {
    return new ReplicationError({
      code: 'TRANSFER_IDLE_TIMEOUT',
      message: `no data for ${req.idleTimeoutMs} ms from ${new URL(req.url).origin}`,
      context,
      hint: 'the inter-site link is down or the primary is overloaded; retrying',
      retryable: true,
    });
  }
  return new ReplicationError({
    code: 'TRANSFER_HTTP',
    message:
      code === 18
        ? `${req.url}: the response ended early`
        : `${req.url}: the request failed (curl exit ${code}: ${stderr.trim()})`,
    context,
    hint: 'the link dropped or the primary worker restarted; retrying',
    retryable: true,
  });
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/[\d.]+ (\d{3})/.exec(statusLine);
  if (m === null) throw new Error(`not an HTTP status line: ${statusLine.slice(0, 80)}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

export function linkGet(req: LinkRequest): Promise<LinkResponse> {
  if (!TOKEN.test(req.token)) {
    return Promise.reject(
      new ReplicationError({
        code: 'TRANSFER_HTTP',
        message: 'a transfer token holds only URL-safe base64 characters',
        context: { url: req.url },
        hint: 'use the token the primary returned with the export',
        retryable: false,
      }),
    );
  }
  const idleS = Math.max(1, Math.ceil(req.idleTimeoutMs / 1000));
  const args = [
    '--silent',
    '--show-error',
    '--http1.1',
    '--tlsv1.3',
    '--cacert',
    req.tls.ca,
    // An OpenSSL CA directory holds hash-named files; the TLS directory has none, so nothing
    // but the pinned CA is trusted (not the system's default directory).
    '--capath',
    dirname(req.tls.ca),
    '--cert',
    req.tls.cert,
    '--key',
    req.tls.key,
    '--connect-timeout',
    String(idleS),
    '--speed-limit',
    '1',
    '--speed-time',
    String(idleS),
    '--dump-header',
    '-',
    '--output',
    '-',
    '--config',
    '-',
    ...Object.entries(req.headers).flatMap(([k, v]) => {
      if (!HEADER_VALUE.test(v)) throw new RangeError(`header ${k} has a control character`);
      return ['--header', `${k}: ${v}`];
    }),
    '--url',
    req.url,
  ];
  const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(`header = "Authorization: Bearer ${req.token}"\n`);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  const abort = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  req.signal?.addEventListener('abort', abort, { once: true });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      req.signal?.removeEventListener('abort', abort);
      resolve(code ?? -1);
    });
  });
  const done = exited.then(
    (code) => {
      if (req.signal?.aborted) throw req.signal.reason ?? new Error('aborted');
      if (code !== 0) throw failure(code, stderr, req);
    },
    (e: unknown) => {
      throw new ReplicationError({
        code: 'PROCESS_FAILED',
        message: `curl could not run: ${String(e)}`,
        context: { url: req.url },
        hint: 'install curl',
        cause: e,
      });
    },
  );
  const stdout = child.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return (async () => {
    let head = Buffer.alloc(0);
    for (;;) {
      const next = await stdout.next();
      if (next.done) {
        await done;
        throw failure(-1, `${stderr}no response headers`, req);
      }
      head = Buffer.concat([head, next.value]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) continue;
      const parsed = parseHead(head.subarray(0, end).toString('latin1'));
      const rest = head.subarray(end + 4);
      async function* body(): AsyncGenerator<Buffer> {
        if (rest.length > 0) yield rest;
        for (;;) {
          const n = await stdout.next();
          if (n.done) return;
          yield n.value;
        }
      }
      done.catch(() => undefined); // observed by the caller; never an unhandled rejection
      return { ...parsed, body: body(), done, abort };
    }
  })().catch((e: unknown) => {
    abort();
    done.catch(() => undefined);
    throw e;
  });
}
