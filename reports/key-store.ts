/**
 * The installation's report key and the verifier's pinned key (Node I/O; never in a workflow).
 * The private key lives outside the work tree and outside LIFEBOAT_HOME, mode 0600, made on
 * first use: `$LIFEBOAT_REPORT_KEY_DIR`, else `${XDG_CONFIG_HOME:-~/.config}/lifeboat/report-key`.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64ToBytes, bytesToBase64 } from '../approvals/encoding.ts';
import { decodePublicKey } from '../approvals/verify.ts';
import { REPO_ROOT } from '../platform/home.ts';
import type { ReportKeyRef } from './envelope.ts';
import { ReportError } from './errors.ts';
import { keyRef, type ReportKey, reportKeyFromSecret } from './signing.ts';

export function reportKeyDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LIFEBOAT_REPORT_KEY_DIR) return path.resolve(env.LIFEBOAT_REPORT_KEY_DIR);
  const config = env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(config, 'lifeboat', 'report-key');
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Loads the installation's report key, creating it on first use. */
export async function loadOrCreateReportKey(dir = reportKeyDir()): Promise<ReportKey> {
  if (inside(path.resolve(dir), REPO_ROOT)) {
    throw new ReportError(
      'KEY_IN_WORKTREE',
      `the report key directory ${dir} is inside the repository`,
      { dir },
      'set LIFEBOAT_REPORT_KEY_DIR to a directory outside the work tree',
    );
  }
  const file = path.join(dir, 'report.key');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { secretKey } = ed25519.keygen();
  const body = `${JSON.stringify({ secretKey: bytesToBase64(secretKey), ...keyRef(ed25519.getPublicKey(secretKey)) })}\n`;
  try {
    // wx: two workers making the key at once keep the first one.
    await writeFile(file, body, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    throw new ReportError('KEY_MODE', `${file} is readable by others`, { file }, `chmod 600 ${file}`);
  }
  const parsed = JSON.parse(await readFile(file, 'utf8')) as { secretKey?: unknown };
  const secret = typeof parsed.secretKey === 'string' ? base64ToBytes(parsed.secretKey) : undefined;
  if (secret?.length !== 32) {
    throw new ReportError('KEY_INVALID', `${file} holds no valid key`, { file }, 'restore it from backup');
  }
  return reportKeyFromSecret(secret);
}

/**
 * A public key given on the command line: `ed25519:<base64>`, or a file holding that line, a
 * report key file or a report (its `key`).
 */
export function parsePublicKeyArg(arg: string): ReportKeyRef {
  let text = arg.trim();
  if (!text.startsWith('ed25519:')) {
    try {
      text = readFileSync(arg, 'utf8').trim();
    } catch {
      throw new ReportError(
        'KEY_INVALID',
        `--key ${arg} is neither a key nor a readable file`,
        {},
        'pass ed25519:<base64>',
      );
    }
    if (text.startsWith('{')) {
      const o = JSON.parse(text) as { publicKey?: unknown; key?: { publicKey?: unknown } };
      const found = typeof o.publicKey === 'string' ? o.publicKey : o.key?.publicKey;
      text = typeof found === 'string' ? found : '';
    }
  }
  const pub = decodePublicKey(text);
  if (!pub)
    throw new ReportError(
      'KEY_INVALID',
      `--key ${arg} holds no ed25519 public key`,
      {},
      'pass ed25519:<base64>',
    );
  return keyRef(pub);
}

function pinFile(home: string): string {
  return path.join(home, 'reports', 'pinned-key.json');
}

export async function readPinnedKey(home: string): Promise<ReportKeyRef | undefined> {
  try {
    const o = JSON.parse(await readFile(pinFile(home), 'utf8')) as { publicKey?: unknown };
    const pub = typeof o.publicKey === 'string' ? decodePublicKey(o.publicKey) : undefined;
    return pub ? keyRef(pub) : undefined;
  } catch {
    return undefined;
  }
}

/** Trust on first use: the key the first verify in this home saw. */
export async function pinKey(home: string, key: ReportKeyRef): Promise<void> {
  const file = pinFile(home);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ ...key, pinnedAt: new Date().toISOString() }, null, 2)}\n`);
  await rename(tmp, file);
}
