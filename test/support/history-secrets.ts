/**
 * Reads a workflow's full history with the stock `temporal` CLI (from .venv) and collects what
 * its payloads hold, decoded: what an operator with `temporal workflow show` would see.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../platform/home.ts';

const pexec = promisify(execFile);

export interface HistoryText {
  /** The CLI's JSON output as printed. */
  raw: string;
  /** Every payload decoded (json/plain), as values. */
  payloads: unknown[];
}

function decodePayloads(node: unknown, out: unknown[]): void {
  if (Array.isArray(node)) {
    for (const n of node) decodePayloads(n, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | undefined;
  if (typeof o.data === 'string' && meta !== undefined && typeof meta.encoding === 'string') {
    const encoding = Buffer.from(meta.encoding, 'base64').toString('utf8');
    if (encoding === 'json/plain') {
      out.push(JSON.parse(Buffer.from(o.data, 'base64').toString('utf8')));
      return;
    }
  }
  for (const v of Object.values(o)) decodePayloads(v, out);
}

export async function showHistory(
  workflowId: string,
  server: { address: string; namespace: string },
): Promise<HistoryText> {
  const { stdout } = await pexec(
    path.join(REPO_ROOT, '.venv', 'bin', 'temporal'),
    [
      'workflow',
      'show',
      '-w',
      workflowId,
      '-o',
      'json',
      '--address',
      server.address,
      '--namespace',
      server.namespace,
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const payloads: unknown[] = [];
  decodePayloads(JSON.parse(stdout), payloads);
  return { raw: stdout, payloads };
}

/** Every object in `node` (depth first) that has all of `keys`. */
export function objectsWith(node: unknown, keys: readonly string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const walk = (n: unknown) => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n !== null && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (keys.every((k) => k in o)) out.push(o);
      Object.values(o).forEach(walk);
    }
  };
  walk(node);
  return out;
}
