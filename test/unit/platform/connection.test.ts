import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { externalTargetFromEnv, tlsFromEnv } from '../../../platform/connection.ts';
import { PlatformError } from '../../../platform/errors.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string, body: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, body);
  return file;
};
const ca = pem('ca.pem', 'CA');
const cert = pem('client.pem', 'CERT');
const key = pem('client.key', 'KEY');

describe('externalTargetFromEnv', () => {
  test('no TEMPORAL_ADDRESS means the embedded server', () => {
    expect(externalTargetFromEnv({ TEMPORAL_NAMESPACE: 'x' })).toBeUndefined();
  });

  test('address and namespace, plain text by default', () => {
    expect(externalTargetFromEnv({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'dr' })).toEqual({
      address: 'temporal:7233',
      namespace: 'dr',
      tls: undefined,
      apiKey: undefined,
      embedded: false,
      uiUrl: undefined,
    });
    expect(externalTargetFromEnv({ TEMPORAL_ADDRESS: 'temporal:7233' })?.namespace).toBe('default');
  });

  test('an API key turns TLS on', () => {
    const t = externalTargetFromEnv({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' });
    expect(t?.tls).toEqual({});
    expect(t?.apiKey).toBe('k');
  });
});

describe('tlsFromEnv', () => {
  test('off unless something asks for it', () => {
    expect(tlsFromEnv({})).toBeUndefined();
    expect(tlsFromEnv({ TEMPORAL_TLS: 'true' })).toEqual({});
  });

  test('mTLS reads the PEM files, with CA and server name', () => {
    const tls = tlsFromEnv({
      TEMPORAL_TLS_CERT: cert,
      TEMPORAL_TLS_KEY: key,
      TEMPORAL_TLS_CA: ca,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(tls?.serverNameOverride).toBe('temporal.internal');
    expect(tls?.serverRootCACertificate?.toString()).toBe('CA');
    expect(tls?.clientCertPair?.crt.toString()).toBe('CERT');
    expect(tls?.clientCertPair?.key.toString()).toBe('KEY');
  });

  test("the Temporal CLI's variable names work too", () => {
    const tls = tlsFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert, TEMPORAL_TLS_CLIENT_KEY_PATH: key });
    expect(tls?.clientCertPair?.crt.toString()).toBe('CERT');
  });

  test('a certificate without its key is refused with a hint', () => {
    try {
      tlsFromEnv({ TEMPORAL_TLS_CERT: cert });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PlatformError);
      expect((err as PlatformError).code).toBe('TLS_CONFIG_INVALID');
      expect((err as PlatformError).hint).toContain('TEMPORAL_TLS_KEY');
    }
  });

  test('an unreadable file names the variable', () => {
    expect(() => tlsFromEnv({ TEMPORAL_TLS_CA: path.join(dir, 'missing.pem') })).toThrow(/TEMPORAL_TLS_CA/);
  });
});
