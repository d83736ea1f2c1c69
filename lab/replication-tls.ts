/**
 * The lab's replication TLS material: one CA and a certificate per site naming its inter-site
 * address. The CA and every key are made under `<home>/lab/tls/authority` (the lab's, given to no
 * site); each site's worker gets a directory of its own, `<home>/lab/tls/<site>`, holding the CA
 * certificate, that site's key and certificate and the transfer key both sites share (transfer
 * tokens are derived from it), as a deployment would hand them out.
 * Site workers find it through LIFEBOAT_REPLICATION_TLS_DIR; `labReplicationEnv` gives the set.
 */
import path from 'node:path';
import { issueSiteTls } from '../replication/tls.ts';
import { LAB_SITES, type LabSiteName, labPaths, SITE_STORAGE_PATH, SITE_TOPOLOGY } from './config.ts';

/** Port of the transfer server on each site's inter-site address. */
export const LAB_REPLICATION_PORT = 7443;

/** Where a site's worker finds its TLS material (`ca.crt`, `site-<site>.crt`/`.key`, `transfer.key`). */
export function labReplicationTlsDir(site: LabSiteName, home?: string): string {
  return path.join(labPaths(home).root, 'tls', site);
}

function authorityDir(home?: string): string {
  return path.join(labPaths(home).root, 'tls', 'authority');
}

/** Creates the CA and both site certificates unless they exist, and each site's own directory. */
export async function ensureLabReplicationTls(home?: string): Promise<void> {
  for (const site of LAB_SITES) {
    await issueSiteTls(
      authorityDir(home),
      site,
      [SITE_TOPOLOGY[site].interAddress],
      labReplicationTlsDir(site, home),
    );
  }
}

/** The environment a site worker needs to serve and pull replication transfers. */
export function labReplicationEnv(site: LabSiteName, home?: string): Record<string, string> {
  return {
    LIFEBOAT_REPLICATION_LISTEN: `${SITE_TOPOLOGY[site].interAddress}:${LAB_REPLICATION_PORT}`,
    LIFEBOAT_REPLICATION_TLS_DIR: labReplicationTlsDir(site, home),
    LIFEBOAT_SITE_STORAGE: SITE_STORAGE_PATH,
    LIFEBOAT_SITE_URI: 'qemu:///system',
  };
}
