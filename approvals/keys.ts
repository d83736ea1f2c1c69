/**
 * Operator key files (Node only, used by the CLI; never imported by workflows). A private key
 * lives in the operator's own config directory, mode 0600, never in a repository.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64ToBytes, bytesToBase64 } from './encoding.ts';
import {
  type AnyDecisionPayload,
  type AnySignedDecision,
  type DecisionPayload,
  type SignedDecision,
  signingBytes,
} from './payload.ts';
import { KEY_PREFIX } from './verify.ts';

export class OperatorKeyError extends Error {
  constructor(
    readonly code: 'KEY_EXISTS' | 'KEY_MISSING' | 'KEY_INVALID' | 'KEY_MODE' | 'BAD_NAME',
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'OperatorKeyError';
  }
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function operatorDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIFEBOAT_OPERATOR_DIR ?? join(homedir(), '.config', 'lifeboat', 'operators');
}

export function publicKeyLine(publicKey: Uint8Array): string {
  return `${KEY_PREFIX}${bytesToBase64(publicKey)}`;
}

function keyPath(name: string, dir: string): string {
  if (!SAFE_NAME.test(name) || name.includes('..')) {
    throw new OperatorKeyError('BAD_NAME', `unsafe operator name: ${name}`, 'use letters, digits, . _ -');
  }
  return join(dir, `${name}.key`);
}

/** Creates a key pair; refuses to overwrite an existing key. Returns the public key line. */
export async function initOperatorKey(
  name: string,
  dir = operatorDir(),
): Promise<{ path: string; publicKey: string }> {
  const path = keyPath(name, dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { secretKey, publicKey } = ed25519.keygen();
  const body = `${JSON.stringify({ name, secretKey: bytesToBase64(secretKey), publicKey: publicKeyLine(publicKey) })}\n`;
  try {
    await writeFile(path, body, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new OperatorKeyError(
        'KEY_EXISTS',
        `${path} already exists`,
        'pick another --name or reuse the key',
      );
    }
    throw err;
  }
  return { path, publicKey: publicKeyLine(publicKey) };
}

export interface OperatorKey {
  name: string;
  secretKey: Uint8Array;
  publicKey: string;
}

export async function loadOperatorKey(name: string, dir = operatorDir()): Promise<OperatorKey> {
  const path = keyPath(name, dir);
  let text: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw new OperatorKeyError('KEY_MODE', `${path} is readable by others`, `chmod 600 ${path}`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof OperatorKeyError) throw err;
    throw new OperatorKeyError('KEY_MISSING', `no key at ${path}`, 'run lifeboat operator init');
  }
  const parsed = JSON.parse(text) as { name?: unknown; secretKey?: unknown };
  const secretKey = typeof parsed.secretKey === 'string' ? base64ToBytes(parsed.secretKey) : undefined;
  if (secretKey?.length !== 32) {
    throw new OperatorKeyError(
      'KEY_INVALID',
      `${path} holds no valid key`,
      'run lifeboat operator init again',
    );
  }
  return { name, secretKey, publicKey: publicKeyLine(ed25519.getPublicKey(secretKey)) };
}

export function signDecision(
  key: { name: string; secretKey: Uint8Array },
  payload: DecisionPayload,
): SignedDecision {
  return { payload, operator: key.name, signature: signBytes(key, payload) };
}

/** An unfence (or any other signed payload): the same signature over the same five fields. */
export function signAnyDecision(
  key: { name: string; secretKey: Uint8Array },
  payload: AnyDecisionPayload,
): AnySignedDecision {
  return { payload, operator: key.name, signature: signBytes(key, payload) };
}

function signBytes(key: { secretKey: Uint8Array }, payload: AnyDecisionPayload): string {
  return bytesToBase64(ed25519.sign(signingBytes(payload), key.secretKey));
}
