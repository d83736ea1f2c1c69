/** Operators' public keys: `ed25519:<base64 of the 32 raw bytes>`, which must decode to a curve point. */
import { ed25519 } from '@noble/curves/ed25519.js';

export const KEY_PREFIX = 'ed25519:';

export type KeyResult = { ok: true; bytes: Uint8Array } | { ok: false; message: string; hint: string };

const HINT = 'write ed25519:<base64 of the 32-byte public key>';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function parseEd25519PublicKey(text: string): KeyResult {
  if (!text.startsWith(KEY_PREFIX)) {
    return { ok: false, message: `key does not start with '${KEY_PREFIX}'`, hint: HINT };
  }
  const b64 = text.slice(KEY_PREFIX.length);
  if (!BASE64.test(b64) || b64.length % 4 !== 0) {
    return { ok: false, message: 'key is not valid base64', hint: HINT };
  }
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  if (bytes.length !== 32) {
    return { ok: false, message: `key decodes to ${bytes.length} bytes, not 32`, hint: HINT };
  }
  try {
    ed25519.Point.fromBytes(bytes);
  } catch {
    return { ok: false, message: 'key is not a valid Ed25519 point', hint: HINT };
  }
  return { ok: true, bytes };
}
