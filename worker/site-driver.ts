import type { SiteDriver } from '../drivers/types.ts';
import { PlatformError } from '../platform/errors.ts';

/**
 * The driver a site worker uses for its site. The libvirt driver factory plugs in here; until a
 * site is configured there is no driver, and Lifeboat never falls back to a fake one.
 */
export async function createSiteDriver(siteName: string): Promise<SiteDriver> {
  throw new PlatformError(
    'NO_SITE_DRIVER',
    `no driver configured for site ${siteName}`,
    { site: siteName },
    'configure the site (the libvirt driver) before starting its worker',
  );
}
