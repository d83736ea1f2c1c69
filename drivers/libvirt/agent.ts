/**
 * Guest-agent exec: `guest-exec` starts the process, `guest-exec-status` is polled until it exits
 * or the deadline passes. Both go through `virsh qemu-agent-command` with an explicit agent
 * timeout, because libvirt's default is to block forever on a silent agent.
 */
import { CommandFailedError, OperationTimedOutError } from '../errors.ts';
import type { ExecResult } from '../types.ts';
import type { Virsh } from './virsh.ts';

const POLL_MS = 100;

interface AgentReply {
  return?: unknown;
}

function decode(b64: unknown): string {
  return typeof b64 === 'string' ? Buffer.from(b64, 'base64').toString('utf8') : '';
}

export async function agentCommand(
  virsh: Virsh,
  vm: string,
  command: { execute: string; arguments?: Record<string, unknown> },
  agentTimeoutS: number,
): Promise<unknown> {
  const out = await virsh.run(
    [
      'qemu-agent-command',
      '--domain',
      vm,
      '--timeout',
      String(agentTimeoutS),
      '--cmd',
      JSON.stringify(command),
    ],
    { vm, operation: `agent ${command.execute}`, timeoutMs: (agentTimeoutS + 5) * 1000 },
  );
  try {
    return (JSON.parse(out) as AgentReply).return;
  } catch {
    throw new CommandFailedError({ site: virsh.opts.site, vm, stderr: out }, 'guest agent reply is not JSON');
  }
}

export async function agentExec(
  virsh: Virsh,
  vm: string,
  argv: string[],
  timeoutMs: number,
): Promise<ExecResult> {
  const [path, ...args] = argv;
  if (path === undefined)
    throw new CommandFailedError({ site: virsh.opts.site, vm }, 'agentExec needs a command');
  const deadline = Date.now() + timeoutMs;
  const agentTimeoutS = Math.max(1, Math.min(10, Math.ceil(timeoutMs / 1000)));
  const started = (await agentCommand(
    virsh,
    vm,
    { execute: 'guest-exec', arguments: { path, arg: args, 'capture-output': true } },
    agentTimeoutS,
  )) as { pid?: unknown } | undefined;
  const pid = started?.pid;
  if (typeof pid !== 'number') {
    throw new CommandFailedError({ site: virsh.opts.site, vm }, 'guest-exec returned no pid');
  }
  for (;;) {
    const st = (await agentCommand(
      virsh,
      vm,
      { execute: 'guest-exec-status', arguments: { pid } },
      agentTimeoutS,
    )) as Record<string, unknown> | undefined;
    if (st?.exited === true) {
      // A process killed by a signal has no exitcode; report 128+signal like a shell does.
      const exitCode =
        typeof st.exitcode === 'number' ? st.exitcode : typeof st.signal === 'number' ? 128 + st.signal : -1;
      return { exitCode, stdout: decode(st['out-data']), stderr: decode(st['err-data']) };
    }
    if (Date.now() + POLL_MS > deadline) {
      throw new OperationTimedOutError({
        site: virsh.opts.site,
        vm,
        operation: `guest exec of ${path}`,
        timeoutMs,
      });
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Opens a file inside the guest, runs `fn` with its handle, and closes it whatever happens. */
async function withGuestFile<T>(
  virsh: Virsh,
  vm: string,
  path: string,
  mode: 'r' | 'w',
  agentTimeoutS: number,
  fn: (handle: number) => Promise<T>,
): Promise<T> {
  const handle = await agentCommand(
    virsh,
    vm,
    { execute: 'guest-file-open', arguments: { path, mode } },
    agentTimeoutS,
  );
  if (typeof handle !== 'number') {
    throw new CommandFailedError({ site: virsh.opts.site, vm }, `guest-file-open ${path} returned no handle`);
  }
  try {
    return await fn(handle);
  } finally {
    await agentCommand(
      virsh,
      vm,
      { execute: 'guest-file-close', arguments: { handle } },
      agentTimeoutS,
    ).catch(() => undefined);
  }
}

/** Largest read per guest-file-read: the reply travels base64 in one virsh output. */
const READ_CHUNK = 1024 * 1024;

/**
 * Reads `length` bytes at `offset` of a file inside the guest (a block device too) through the
 * agent's guest-file-* commands; the handle is closed whatever happens. Short at end of file.
 */
export async function agentReadFile(
  virsh: Virsh,
  vm: string,
  path: string,
  offset: number,
  length: number,
  agentTimeoutS: number,
): Promise<Buffer> {
  return withGuestFile(virsh, vm, path, 'r', agentTimeoutS, async (handle) => {
    await agentCommand(
      virsh,
      vm,
      { execute: 'guest-file-seek', arguments: { handle, offset, whence: 'set' } },
      agentTimeoutS,
    );
    const parts: Buffer[] = [];
    let got = 0;
    while (got < length) {
      const r = (await agentCommand(
        virsh,
        vm,
        { execute: 'guest-file-read', arguments: { handle, count: Math.min(READ_CHUNK, length - got) } },
        agentTimeoutS,
      )) as { 'buf-b64'?: unknown; count?: unknown; eof?: unknown } | undefined;
      const buf = typeof r?.['buf-b64'] === 'string' ? Buffer.from(r['buf-b64'], 'base64') : Buffer.alloc(0);
      parts.push(buf);
      got += buf.length;
      if (r?.eof === true || buf.length === 0) break;
    }
    return Buffer.concat(parts);
  });
}

/**
 * Writes `data` as the whole content of a file inside the guest (created or truncated) through
 * guest-file-open/write/close; the handle is closed whatever happens.
 */
export async function agentWriteFile(
  virsh: Virsh,
  vm: string,
  path: string,
  data: Buffer,
  agentTimeoutS: number,
): Promise<void> {
  await withGuestFile(virsh, vm, path, 'w', agentTimeoutS, async (handle) => {
    for (let off = 0; off < data.length; off += READ_CHUNK) {
      const part = data.subarray(off, off + READ_CHUNK);
      const r = (await agentCommand(
        virsh,
        vm,
        { execute: 'guest-file-write', arguments: { handle, 'buf-b64': part.toString('base64') } },
        agentTimeoutS,
      )) as { count?: unknown } | undefined;
      if (r?.count !== part.length) {
        throw new CommandFailedError(
          { site: virsh.opts.site, vm },
          `guest-file-write ${path} wrote ${String(r?.count)} of ${part.length} bytes`,
        );
      }
    }
  });
}
