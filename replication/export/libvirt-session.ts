/**
 * The export's questions to libvirt (state, XML, checkpoints) and its checkpoint metadata
 * changes, over one long-lived connection: libvirt-session.py, a libvirt-python process that
 * this site worker starts on the first call and keeps. A virsh process per question cost 10-14 ms
 * here, and an offline cycle asked four of them.
 *
 * A call that gets no answer within its bound ends the process (the next call starts another);
 * an error is an ExportError, DOMAIN_NOT_FOUND for a domain libvirt does not know.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ExportError } from './errors.ts';

/** Debian's python3, which python3-libvirt installs into (a pyenv or venv python has no libvirt). */
const PYTHON = process.env.LIFEBOAT_LIBVIRT_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./libvirt-session.py', import.meta.url));
/** libvirt's VIR_ERR_NO_DOMAIN and VIR_ERR_NO_DOMAIN_CHECKPOINT. */
const NO_DOMAIN = 42;
export const NO_CHECKPOINT = 103;

export type SessionRequest =
  | { op: 'state'; domain: string }
  | { op: 'xml'; domain: string; inactive?: boolean }
  | { op: 'checkpoints'; domain: string }
  | { op: 'checkpoint-xml'; domain: string; name: string; size?: boolean }
  | { op: 'checkpoint-redefine'; domain: string; xml: string }
  | { op: 'checkpoint-delete'; domain: string; name: string; metadataOnly?: boolean };

interface Answer {
  id: number;
  ok: boolean;
  result?: unknown;
  code?: number;
  message?: string;
}

interface Pending {
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

/** A libvirt error the session answered with: its libvirt code, kept for callers to test. */
export class SessionCallError extends ExportError {
  constructor(
    readonly libvirtCode: number,
    req: SessionRequest,
    uri: string,
    message: string,
  ) {
    const notFound = libvirtCode === NO_DOMAIN;
    super({
      code: notFound ? 'DOMAIN_NOT_FOUND' : 'VIRSH_FAILED',
      message: `libvirt ${req.op} failed: ${message}`,
      context: { ...req, xml: undefined, uri, libvirtCode },
      hint: notFound ? 'is the VM defined on the primary site?' : 'see the libvirt log of the site',
      retryable: !notFound,
    });
  }
}

export class LibvirtSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderr = '';

  constructor(
    readonly uri: string,
    /** Bound on one call (ms): a daemon that does not answer within it is taken as gone. */
    readonly timeoutMs = 60_000,
  ) {}

  async call<T>(req: SessionRequest, timeoutMs = this.timeoutMs): Promise<T> {
    const child = this.process();
    const id = this.nextId++;
    const answered = new Promise<Answer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    child.stdin.write(`${JSON.stringify({ id, ...req })}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new ExportError({
            code: 'VIRSH_FAILED',
            message: `libvirt ${req.op} got no answer within ${timeoutMs} ms`,
            context: { ...req, uri: this.uri },
            hint: 'is the site libvirt daemon up?',
            retryable: true,
          }),
        );
        // A hung daemon would hold every later call too: this process goes, the next call starts one.
        this.end(child);
      }, timeoutMs);
    });
    try {
      const a = await Promise.race([answered, timedOut]);
      if (a.ok) return a.result as T;
      throw new SessionCallError(a.code ?? 0, req, this.uri, a.message ?? 'no message');
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  /** Ends the helper process (the worker is stopping); a later call would start another. */
  close(): void {
    if (this.child !== undefined) this.end(this.child);
  }

  private process(): ChildProcessWithoutNullStreams {
    if (this.child !== undefined) return this.child;
    const child = spawn(PYTHON, [SCRIPT, this.uri], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.stderr = '';
    // Answers are read per process: a killed one's last bytes never mix with its successor's.
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      buffered = this.read(child, buffered + s);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (this.stderr.length < 4000) this.stderr += s;
    });
    child.stdin.on('error', () => undefined); // a dead process is reported by 'close' below
    child.on('error', (e) => this.fail(child, e.message));
    child.on('close', (code, signal) => this.fail(child, `exit ${code ?? signal}`));
    // Not to keep an otherwise finished worker (or test) alive.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr])
      (s as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  /** Answers each complete line of `text`; returns the incomplete rest. */
  private read(child: ChildProcessWithoutNullStreams, text: string): string {
    let rest = text;
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      let a: Answer;
      try {
        a = JSON.parse(line) as Answer;
      } catch {
        // Not the session's protocol: nothing more from this process can be trusted.
        this.end(child);
        return '';
      }
      if (this.child === child) this.pending.get(a.id)?.resolve(a);
    }
    return rest;
  }

  /** The process is gone or given up on: every call still waiting on it fails. */
  private fail(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    const e = new ExportError({
      code: 'VIRSH_FAILED',
      message: `the libvirt session of ${this.uri} ended: ${why}${this.stderr ? `: ${this.stderr.trim()}` : ''}`,
      context: { uri: this.uri, python: PYTHON },
      hint: 'python3-libvirt must be installed for /usr/bin/python3 (npm run setup installs it)',
      retryable: true,
    });
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private end(child: ChildProcessWithoutNullStreams): void {
    this.fail(child, 'given up on');
    child.kill('SIGKILL');
  }
}
