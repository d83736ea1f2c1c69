/**
 * The lab's replication TLS material: one CA and a certificate per site naming its inter-site
 * address, under `<home>/lab/tls` (readable inside both sites' mount namespaces). Site workers
 * find it through LIFEBOAT_REPLICATION_TLS_DIR; `labReplicationEnv` gives the whole set.
 */
import path from 'node:path';
import { ensureSiteCert } from '../replication/tls.ts';
import { LAB_SITES, type LabSiteName, labPaths, SITE_STORAGE_PATH, SITE_TOPOLOGY } from './config.ts';

/** Port of the transfer server on each site's inter-site address. */
export const LAB_REPLICATION_PORT = 7443;

export function labReplicationTlsDir(home?: string): string {
  return path.join(labPaths(home).root, 'tls');
}

/** Creates the CA and both site certificates unless they exist (idempotent). */
export async function ensureLabReplicationTls(home?: string): Promise<string> {
  const dir = labReplicationTlsDir(home);
  for (const site of LAB_SITES) await ensureSiteCert(dir, site, [SITE_TOPOLOGY[site].interAddress]);
  return dir;
}

/** The environment a site worker needs to serve and pull replication transfers. */
export function labReplicationEnv(site: LabSiteName, home?: string): Record<string, string> {
  return {
    LIFEBOAT_REPLICATION_LISTEN: `${SITE_TOPOLOGY[site].interAddress}:${LAB_REPLICATION_PORT}`,
    LIFEBOAT_REPLICATION_TLS_DIR: labReplicationTlsDir(home),
    LIFEBOAT_SITE_STORAGE: SITE_STORAGE_PATH,
    LIFEBOAT_SITE_URI: 'qemu:///system',
  };
}
