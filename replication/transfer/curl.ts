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

function badToken(req: LinkRequest): ReplicationError | null {
  if (TOKEN.test(req.token)) return null;
  return new ReplicationError({
    code: 'TRANSFER_HTTP',
    message: 'a transfer token holds only URL-safe base64 characters',
    context: { url: req.url },
    hint: 'use the token the primary returned with the export',
    retryable: false,
  });
}

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

/** curl's arguments for one GET of `req`, the body going where `output` says. */
function curlArgs(req: LinkRequest, output: string[]): string[] {
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
    ...output,
    '--config',
    '-',
    ...Object.entries(req.headers).flatMap(([k, v]) => {
      if (!HEADER_VALUE.test(v)) throw new RangeError(`header ${k} has a control character`);
      return ['--header', `${k}: ${v}`];
    }),
    '--url',
    req.url,
  ];
  return args;
}

export function linkGet(req: LinkRequest): Promise<LinkResponse> {
  const bad = badToken(req);
  if (bad !== null) return Promise.reject(bad);
  const args = curlArgs(req, ['--output', '-']);
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

/** What a GET into a file answered: its status and headers (the body is in the file). */
export interface FileResponse {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
}

/**
 * One GET whose body curl writes straight into `path` (appended from `resumeFrom` with a Range,
 * or the file started over when it is 0): no body byte passes through JavaScript. Error
 * responses write nothing (`--fail`); their status is still answered. curl dies with this
 * process (`setpriv --pdeathsig`), so a killed worker never leaves a writer behind that a
 * restarted one would race. A server that answers a Range with the whole file (the file changed,
 * `If-Range` failed) ends the request with TRANSFER_RESTART: start the file over.
 */
export async function linkGetToFile(
  req: LinkRequest & { path: string; resumeFrom: number },
): Promise<FileResponse> {
  const bad = badToken(req);
  if (bad !== null) throw bad;
  const output = [
    '--fail',
    '--output',
    req.path,
    ...(req.resumeFrom > 0 ? ['--continue-at', String(req.resumeFrom)] : []),
  ];
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'curl', ...curlArgs(req, output)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(`header = "Authorization: Bearer ${req.token}"\n`);
  let stderr = '';
  let head = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (s: string) => {
    if (head.length < 64 * 1024) head += s;
  });
  const abort = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  req.signal?.addEventListener('abort', abort, { once: true });
  let code: number;
  try {
    code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? -1));
    });
  } catch (e) {
    throw new ReplicationError({
      code: 'PROCESS_FAILED',
      message: `curl could not run: ${String(e)}`,
      context: { url: req.url },
      hint: 'install curl and util-linux (setpriv)',
      cause: e,
    });
  } finally {
    req.signal?.removeEventListener('abort', abort);
  }
  if (req.signal?.aborted) throw req.signal.reason ?? new Error('aborted');
  const end = head.indexOf('\r\n\r\n');
  const parsed = end < 0 ? null : parseHead(head.slice(0, end));
  if (code === 0 || (code === 22 && parsed !== null)) {
    if (parsed === null) throw failure(-1, `${stderr}no response headers`, req);
    return parsed;
  }
  if (code === 33) {
    throw new ReplicationError({
      code: 'TRANSFER_RESTART',
      message: `${req.url}: the server answered the range from ${req.resumeFrom} with the whole file`,
      context: { url: req.url, resumeFrom: req.resumeFrom },
      hint: 'the file changed at the primary: it is fetched again from the start',
      retryable: true,
    });
  }
  throw failure(code, stderr, req);
}
