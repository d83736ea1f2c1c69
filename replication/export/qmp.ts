/**
 * A minimal QMP client (JSON over a unix socket): greeting, capabilities negotiation, commands
 * matched to answers by id, and events. Enough to drive qemu-storage-daemon for offline exports.
 */
import { createConnection, type Socket } from 'node:net';
import { ExportError } from './errors.ts';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly events: QmpEvent[] = [];
  private readonly waiters: Array<() => void> = [];
  private greeted!: () => void;
  private readonly greeting = new Promise<void>((r) => {
    this.greeted = r;
  });

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('QMP connection closed'));
      this.pending.clear();
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(path: string): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const c = new QmpClient(socket);
    await c.greeting;
    await c.execute('qmp_capabilities');
    return c;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') continue;
      const msg = JSON.parse(line) as {
        QMP?: unknown;
        id?: string;
        return?: unknown;
        error?: { class: string; desc: string };
        event?: string;
        data?: Record<string, unknown>;
      };
      if (msg.QMP !== undefined) this.greeted();
      else if (msg.event !== undefined) {
        this.events.push({ event: msg.event, ...(msg.data ? { data: msg.data } : {}) });
        for (const w of this.waiters.splice(0)) w();
      } else if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.class}: ${msg.error.desc}`));
        else p?.resolve(msg.return);
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(
        `${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`,
      );
    });
  }

  /** Resolves with the first event (past or future) that `match` accepts. */
  async waitEvent(match: (e: QmpEvent) => boolean, timeoutMs: number): Promise<QmpEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex(match);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      if (this.socket.destroyed || Date.now() > deadline) {
        throw new ExportError({
          code: 'BACKUP_TIMEOUT',
          message: `no matching QMP event within ${timeoutMs} ms`,
          hint: 'the storage daemon may have died; see its log',
          retryable: true,
        });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(1_000, Math.max(1, deadline - Date.now())));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
