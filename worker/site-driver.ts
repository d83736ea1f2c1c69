import { createLibvirtDriver } from '../drivers/libvirt/index.ts';
import type { SiteDriver } from '../drivers/types.ts';
import { PlatformError } from '../platform/errors.ts';

/** Where a site's hypervisor and storage are, as its worker sees them. */
export interface SiteDriverConfig {
  /** libvirt URI (flag `--libvirt-uri`, env LIFEBOAT_SITE_URI). */
  uri?: string;
  /** The site's storage directory (flag `--storage`, env LIFEBOAT_SITE_STORAGE). */
  storage?: string;
}

/**
 * The driver a site worker uses for its site: the libvirt driver on the configured URI and
 * storage. Flags win over the environment (LIFEBOAT_SITE_URI, LIFEBOAT_SITE_STORAGE, and
 * LIFEBOAT_SITE, which when set must name this site). Without a configured URI and storage there
 * is no driver: Lifeboat never falls back to a fake one or to libvirt's default connection.
 */
export async function createSiteDriver(
  siteName: string,
  config: SiteDriverConfig = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<SiteDriver> {
  const envSite = env.LIFEBOAT_SITE;
  if (envSite && envSite !== siteName) {
    throw new PlatformError(
      'NO_SITE_DRIVER',
      `this process is configured for site ${envSite}, not ${siteName}`,
      { site: siteName, LIFEBOAT_SITE: envSite },
      'start the worker with the site named by LIFEBOAT_SITE, or unset it',
    );
  }
  const uri = config.uri || env.LIFEBOAT_SITE_URI;
  const storage = config.storage || env.LIFEBOAT_SITE_STORAGE;
  if (!uri || !storage) {
    throw new PlatformError(
      'NO_SITE_DRIVER',
      `no driver configured for site ${siteName}: ${!uri ? 'no libvirt URI' : 'no storage directory'}`,
      { site: siteName },
      'set LIFEBOAT_SITE_URI and LIFEBOAT_SITE_STORAGE (or --libvirt-uri and --storage) for the site worker',
    );
  }
  return createLibvirtDriver({ site: siteName, uri, storage });
}
