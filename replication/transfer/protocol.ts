/**
 * What the primary's transfer server and the secondary's client agree on: the URL layout, the
 * transfer manifest, the bearer token and the Range/If-Range rules. Pure; unit-tested.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { safeNameSchema } from '../manifest.ts';

export const transferFileSchema = z.object({
  /** File name at the destination; a single safe path component. */
  name: safeNameSchema,
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Strong validator for If-Range: changes whenever the content could. */
  etag: z.string().regex(/^"[^"]+"$/),
});
export type TransferFile = z.infer<typeof transferFileSchema>;

/**
 * A served file's validator: from its content digest and size, so the server and a client that
 * knows the digest (the export said it) agree on it without asking.
 */
export function fileEtag(d: { sha256: string; size: number }): string {
  return `"${d.sha256.slice(0, 32)}-${d.size}"`;
}

export const transferManifestSchema = z.object({
  transferId: safeNameSchema,
  files: z.array(transferFileSchema),
});
export type TransferManifest = z.infer<typeof transferManifestSchema>;

export function manifestPath(transferId: string): string {
  return `/v1/transfers/${encodeURIComponent(transferId)}/manifest`;
}
export function filePath(transferId: string, name: string): string {
  return `/v1/transfers/${encodeURIComponent(transferId)}/files/${encodeURIComponent(name)}`;
}

export type Route =
  | { kind: 'manifest'; transferId: string }
  | { kind: 'file'; transferId: string; name: string }
  | { kind: 'unknown' };

export function parseRoute(url: string): Route {
  const path = url.split('?')[0] ?? '';
  const m = /^\/v1\/transfers\/([^/]+)\/(manifest|files\/([^/]+))$/.exec(path);
  if (m === null) return { kind: 'unknown' };
  let transferId: string;
  let name: string | undefined;
  try {
    transferId = decodeURIComponent(m[1]!);
    name = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
  } catch {
    return { kind: 'unknown' };
  }
  if (!safeNameSchema.safeParse(transferId).success) return { kind: 'unknown' };
  if (m[2] === 'manifest') return { kind: 'manifest', transferId };
  if (name === undefined || !safeNameSchema.safeParse(name).success) return { kind: 'unknown' };
  return { kind: 'file', transferId, name };
}

/** A fresh per-transfer secret (256 bits). */
export function newTransferToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * What a transfer's registration names in activity results instead of its token: the serving
 * site and a fresh nonce. Neither is secret; the token is derived from them with the transfer
 * key both sites hold (`transferToken`), so no secret ever enters a Temporal payload.
 */
export interface TransferGrant {
  /** The site whose transfer server registered the transfer. */
  site: string;
  transferId: string;
  nonce: string;
}

/**
 * The token a puller presents for a grant found in an activity payload: derived, or the token
 * itself from a result recorded before tokens were derived.
 */
export function grantToken(
  key: Buffer,
  g: { site?: string; transferId: string; nonce?: string; token?: string },
): string {
  if (g.token !== undefined) return g.token;
  if (g.site === undefined || g.nonce === undefined)
    throw new Error('a transfer grant names its site and nonce');
  return transferToken(key, { site: g.site, transferId: g.transferId, nonce: g.nonce });
}

/** A fresh registration nonce (128 bits): a re-registration gets a new token. */
export function newTransferNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** Bytes of the transfer key (`transfer.key`, replication/tls.ts). */
export const TRANSFER_KEY_BYTES = 32;

/**
 * The bearer token of one registration: HMAC-SHA256 under the transfer key over the serving
 * site, the transfer id and the nonce. A token for another site's transfer of the same id, or
 * from another registration, does not open this one.
 */
export function transferToken(key: Buffer, grant: TransferGrant): string {
  if (key.length < TRANSFER_KEY_BYTES) throw new Error('transfer key is shorter than 32 bytes');
  return createHmac('sha256', key)
    .update(`lifeboat/transfer-token/v1\0${grant.site}\0${grant.transferId}\0${grant.nonce}`)
    .digest('base64url');
}

/** What a server keeps of a token: its digest, so a state file never holds the secret. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Compares the presented Authorization header with the expected token's digest in constant
 * time (digests have equal lengths, so even the token's length does not leak).
 */
export function tokenMatches(authorization: string | undefined, expectedHash: Buffer): boolean {
  const presented = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  const a = hashToken(presented ?? '');
  return expectedHash.length === a.length && timingSafeEqual(a, expectedHash) && presented !== undefined;
}

export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

/**
 * RFC 9110 byte ranges, single range only (a multi-range request gets the whole file, which
 * the RFC allows). With If-Range, a range is honoured only if the validator still matches;
 * otherwise the whole file is sent, and the client must start over.
 */
export function decideRange(
  range: string | undefined,
  ifRange: string | undefined,
  size: number,
  etag: string,
): RangeDecision {
  if (range === undefined) return { kind: 'full' };
  if (ifRange !== undefined && ifRange !== etag) return { kind: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (m === null) return { kind: 'full' };
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return { kind: 'full' };
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    return size === 0
      ? { kind: 'unsatisfiable' }
      : { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return { kind: 'full' };
  return { kind: 'partial', start, end };
}

/** Parses `Content-Range: bytes start-end/size`. */
export function parseContentRange(
  v: string | undefined,
): { start: number; end: number; size: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(v ?? '');
  if (m === null) return null;
  return { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) };
}
