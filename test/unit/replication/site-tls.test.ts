/** A site's replication TLS material as `lifeboat site-tls` issues it for a deployment. */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { issueSiteTls, loadSiteTls, loadTransferKey } from '../../../replication/tls.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function lifeboat(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin/lifeboat.mjs'), ...args],
      { cwd: root },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('site TLS material', () => {
  it('gives each site a CA-signed certificate naming its addresses and the one shared transfer key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-site-tls-'));
    const authority = join(dir, 'authority');
    const a = await issueSiteTls(
      authority,
      'east',
      ['10.9.0.1', 'dr-east.example.internal'],
      join(dir, 'east'),
    );
    const b = await issueSiteTls(authority, 'west', ['10.9.0.2'], join(dir, 'west'));

    const ca = new X509Certificate(readFileSync(a.ca));
    const east = new X509Certificate(readFileSync(a.cert));
    expect(east.verify(ca.publicKey)).toBe(true);
    expect(east.subjectAltName).toContain('IP Address:10.9.0.1');
    expect(east.subjectAltName).toContain('DNS:dr-east.example.internal');
    expect(new X509Certificate(readFileSync(b.cert)).verify(ca.publicKey)).toBe(true);
    expect(statSync(a.key).mode & 0o777).toBe(0o600);
    expect(statSync(a.transferKey).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'east', 'ca.key'))).toBe(false);
    expect((await loadTransferKey(join(dir, 'east'))).equals(await loadTransferKey(join(dir, 'west')))).toBe(
      true,
    );
    expect((await loadSiteTls(join(dir, 'east'), 'east')).cert.equals(readFileSync(a.cert))).toBe(true);

    // Issued again: the same certificate, not a new one that the other site's pin would miss.
    await issueSiteTls(authority, 'east', ['10.9.0.1'], join(dir, 'east'));
    expect(readFileSync(a.cert, 'utf8')).toBe(east.toString());
  }, 30_000);

  it('refuses an address that would smuggle other names into the certificate, issuing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-site-tls-'));
    await expect(
      issueSiteTls(join(dir, 'ca'), 'east', ['10.9.0.1,DNS:evil.example'], join(dir, 'east')),
    ).rejects.toThrow(/not an IP address or DNS name: "10.9.0.1,DNS:evil.example"/);
    expect(existsSync(join(dir, 'east'))).toBe(false);
    expect(existsSync(join(dir, 'ca', 'site-east.crt'))).toBe(false);
  });

  it('lifeboat site-tls issues it and says what to set in the worker env', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-site-tls-'));
    const r = await lifeboat(
      'site-tls',
      'east',
      '--address',
      '10.9.0.1',
      '--authority',
      join(dir, 'ca'),
      '--out',
      join(dir, 'east'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('LIFEBOAT_REPLICATION_LISTEN=10.9.0.1:7443');
    expect(existsSync(join(dir, 'east', 'site-east.key'))).toBe(true);
    const bad = await lifeboat(
      'site-tls',
      '../east',
      '--address',
      '10.9.0.1',
      '--authority',
      join(dir, 'ca'),
      '--out',
      join(dir, 'x'),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a safe name');
    expect(existsSync(join(dir, 'x'))).toBe(false);
  }, 30_000);
});
