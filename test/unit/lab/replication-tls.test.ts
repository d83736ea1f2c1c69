import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ensureLabReplicationTls,
  labReplicationEnv,
  labReplicationTlsDir,
} from '../../../lab/replication-tls.ts';
import { loadSiteTls, loadTransferKey } from '../../../replication/tls.ts';

const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-lab-tls-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('lab replication TLS', () => {
  it("gives each site the CA certificate and its own key only, never the CA's key", async () => {
    await ensureLabReplicationTls(home);
    await ensureLabReplicationTls(home); // idempotent
    for (const [site, other] of [
      ['primary', 'secondary'],
      ['secondary', 'primary'],
    ] as const) {
      const dir = labReplicationTlsDir(site, home);
      expect(labReplicationEnv(site, home).LIFEBOAT_REPLICATION_TLS_DIR).toBe(dir);
      expect(readdirSync(dir).sort()).toEqual([
        'ca.crt',
        `site-${site}.crt`,
        `site-${site}.key`,
        'transfer.key',
      ]);
      expect(statSync(path.join(dir, `site-${site}.key`)).mode & 0o077).toBe(0);
      // Both sites hold the same transfer key (tokens are derived from it), private to the worker.
      expect(statSync(path.join(dir, 'transfer.key')).mode & 0o077).toBe(0);
      expect(await loadTransferKey(dir)).toEqual(await loadTransferKey(labReplicationTlsDir(other, home)));
      const tls = await loadSiteTls(dir, site);
      expect(tls.key.toString()).toContain('PRIVATE KEY');
      // Its certificate is signed by the CA both sites pin, and the other site's is too.
      const verify = (cert: string) =>
        execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), cert]).toString();
      expect(verify(path.join(dir, `site-${site}.crt`))).toContain(': OK');
      expect(verify(path.join(labReplicationTlsDir(other, home), `site-${other}.crt`))).toContain(': OK');
    }
  });
});
