import { describe, expect, it } from 'vitest';
import {
  decideRange,
  filePath,
  grantToken,
  hashToken,
  manifestPath,
  newTransferToken,
  parseContentRange,
  parseRoute,
  tokenMatches,
  transferToken,
} from '../../../replication/transfer/protocol.ts';

const ETAG = '"abc-100"';

describe('decideRange', () => {
  it('serves the whole file without a Range', () => {
    expect(decideRange(undefined, undefined, 100, ETAG)).toEqual({ kind: 'full' });
  });
  it('resumes from an offset to the end', () => {
    expect(decideRange('bytes=40-', ETAG, 100, ETAG)).toEqual({ kind: 'partial', start: 40, end: 99 });
  });
  it('clips an end past the file and honours a suffix range', () => {
    expect(decideRange('bytes=10-500', undefined, 100, ETAG)).toEqual({
      kind: 'partial',
      start: 10,
      end: 99,
    });
    expect(decideRange('bytes=-30', undefined, 100, ETAG)).toEqual({ kind: 'partial', start: 70, end: 99 });
  });
  it('sends the whole file again when If-Range names another version', () => {
    expect(decideRange('bytes=40-', '"old-100"', 100, ETAG)).toEqual({ kind: 'full' });
  });
  it('says unsatisfiable for a start at or past the end', () => {
    expect(decideRange('bytes=100-', ETAG, 100, ETAG)).toEqual({ kind: 'unsatisfiable' });
  });
  it('ignores multi-range and malformed ranges (whole file)', () => {
    expect(decideRange('bytes=0-1,5-6', undefined, 100, ETAG)).toEqual({ kind: 'full' });
    expect(decideRange('items=1-2', undefined, 100, ETAG)).toEqual({ kind: 'full' });
    expect(decideRange('bytes=50-10', undefined, 100, ETAG)).toEqual({ kind: 'full' });
  });
});

describe('tokenMatches', () => {
  const token = newTransferToken();
  const expected = hashToken(token);
  it('accepts the exact bearer token only', () => {
    expect(tokenMatches(`Bearer ${token}`, expected)).toBe(true);
    expect(tokenMatches(`Bearer ${token}x`, expected)).toBe(false);
    expect(tokenMatches(token, expected)).toBe(false);
    expect(tokenMatches(undefined, expected)).toBe(false);
    expect(tokenMatches('Bearer ', hashToken(''))).toBe(false);
    expect(tokenMatches(`Bearer ${token}`, Buffer.alloc(3))).toBe(false);
  });
  it('makes a new secret each time', () => {
    expect(newTransferToken()).not.toBe(newTransferToken());
    expect(Buffer.from(newTransferToken(), 'base64url')).toHaveLength(32);
  });
});

describe('parseRoute', () => {
  it('round-trips the paths the client builds', () => {
    expect(parseRoute(manifestPath('t-1'))).toEqual({ kind: 'manifest', transferId: 't-1' });
    expect(parseRoute(filePath('t-1', 'vda.qcow2'))).toEqual({
      kind: 'file',
      transferId: 't-1',
      name: 'vda.qcow2',
    });
  });
  it('refuses names that could leave the export directory', () => {
    expect(parseRoute('/v1/transfers/t-1/files/..%2Fetc%2Fpasswd').kind).toBe('unknown');
    expect(parseRoute('/v1/transfers/t-1/files/.hidden').kind).toBe('unknown');
    expect(parseRoute('/v1/transfers/%2E%2E/manifest').kind).toBe('unknown');
    expect(parseRoute('/v1/transfers/t-1/files/%E0%A4%A').kind).toBe('unknown');
  });
});

describe('parseContentRange', () => {
  it('reads a byte range answer', () => {
    expect(parseContentRange('bytes 40-99/100')).toEqual({ start: 40, end: 99, size: 100 });
    expect(parseContentRange('bytes */100')).toBeNull();
    expect(parseContentRange(undefined)).toBeNull();
  });
});

describe('transferToken', () => {
  const key = Buffer.alloc(32, 1);
  const grant = { site: 'primary', transferId: 'vm1.c1', nonce: 'AAAAAAAAAAAAAAAAAAAAAA' };
  it('is one token per key, site, transfer and nonce', () => {
    const t = transferToken(key, grant);
    expect(transferToken(key, grant)).toBe(t);
    expect(transferToken(Buffer.alloc(32, 2), grant)).not.toBe(t);
    expect(transferToken(key, { ...grant, site: 'secondary' })).not.toBe(t);
    expect(transferToken(key, { ...grant, transferId: 'vm1.c2' })).not.toBe(t);
    expect(transferToken(key, { ...grant, nonce: 'BAAAAAAAAAAAAAAAAAAAAA' })).not.toBe(t);
    // Fields cannot be shifted into each other (the separator is not a name character).
    expect(transferToken(key, { ...grant, site: 'primaryvm1.c1', transferId: '' })).not.toBe(t);
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
  it('refuses a short key; a legacy grant with its token keeps it', () => {
    expect(() => transferToken(Buffer.alloc(16), grant)).toThrow(/32 bytes/);
    expect(grantToken(key, { transferId: 'x', token: 'legacy' })).toBe('legacy');
    expect(grantToken(key, grant)).toBe(transferToken(key, grant));
    expect(() => grantToken(key, { transferId: 'x' })).toThrow(/site and nonce/);
  });
});
