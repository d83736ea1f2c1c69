/**
 * The one canonical form reports sign and hash: JSON with object keys sorted at every level
 * (JSON.stringify's number and string spelling, arrays in order, undefined fields dropped).
 * For the records Lifeboat writes this is RFC 8785 (JCS). The pretty form is the report file's
 * exact bytes, so a file whose bytes differ from it was edited, even where the edit parses the same.
 */
import { createHash } from 'node:crypto';

/** A copy with object keys sorted at every level; stringify it for the canonical text. */
export function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(sortKeys);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = sortKeys(v);
  }
  return out;
}

export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** The canonical form indented by two spaces, with a final newline: a report file's bytes. */
export function canonicalPretty(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
