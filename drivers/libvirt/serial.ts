/**
 * Serial console output, read from the file the domain logs its serial port to (`<log file>`,
 * written by virtlogd). A log file keeps everything since the domain started, which a live pty
 * or socket would not, and reading it never competes with other readers.
 */
import { open } from 'node:fs/promises';

/**
 * Splits text into complete raw lines (without the '\n', with any '\r'); the trailing partial
 * line stays for the next read.
 */
export function splitLines(pending: string, chunk: string): { lines: string[]; rest: string } {
  const parts = (pending + chunk).split('\n');
  const rest = parts.pop() ?? '';
  return { lines: parts, rest };
}

/** Reads `path` from byte `from` on; a file shorter than `from` was truncated by a restart. */
export async function readFrom(
  path: string,
  from: number,
): Promise<{ text: string; end: number; restarted: boolean }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const restarted = size < from;
    const start = restarted ? 0 : from;
    const len = size - start;
    if (len <= 0) return { text: '', end: start, restarted };
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, start);
    return { text: buf.subarray(0, bytesRead).toString('utf8'), end: start + bytesRead, restarted };
  } finally {
    await fh.close();
  }
}

/** Lines longer than this are cut before matching, so a runbook pattern cannot be fed a huge input. */
export const MAX_LINE = 4096;

/**
 * Polls the log until a complete line matches. `checkAlive` runs every few polls and throws
 * when waiting is pointless (the domain stopped). Returns null on timeout.
 */
export async function waitForLine(
  path: string,
  re: RegExp,
  opts: { fromOffset: number; timeoutMs: number; pollMs?: number; checkAlive?: () => Promise<void> },
): Promise<{ line: string; offset: number } | null> {
  const pollMs = opts.pollMs ?? 200;
  const deadline = Date.now() + opts.timeoutMs;
  let offset = opts.fromOffset;
  let pending = '';
  let polls = 0;
  for (;;) {
    let chunk = { text: '', end: offset, restarted: false };
    try {
      chunk = await readFrom(path, offset);
    } catch (err) {
      // The log appears when the domain starts; until then there is nothing to read.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (chunk.restarted) pending = '';
    // Offsets count bytes of complete lines, so they stay valid for the next wait.
    let lineStart = chunk.restarted ? 0 : offset - Buffer.byteLength(pending);
    const { lines, rest } = splitLines(pending, chunk.text);
    for (const raw of lines) {
      lineStart += Buffer.byteLength(raw) + 1;
      const line = raw.replace(/\r$/, '');
      if (re.test(line.slice(0, MAX_LINE))) return { line, offset: lineStart };
    }
    pending = rest;
    offset = chunk.end;
    if (Date.now() >= deadline) return null;
    polls += 1;
    if (opts.checkAlive && polls % 10 === 0) await opts.checkAlive();
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
  }
}
