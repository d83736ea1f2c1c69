/**
 * The site worker's driver comes from its configuration (flags over environment) and is the
 * real libvirt driver; without a URI and storage there is none, never a fake.
 */
import { describe, expect, it } from 'vitest';
import { LibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { PlatformError } from '../../../platform/errors.ts';
import { createSiteDriver } from '../../../worker/site-driver.ts';

const env = { LIFEBOAT_SITE_URI: 'qemu:///system', LIFEBOAT_SITE_STORAGE: '/var/lib/lifeboat/storage' };

describe('createSiteDriver', () => {
  it('builds the libvirt driver from the environment', async () => {
    const d = await createSiteDriver('paris', {}, { ...env, LIFEBOAT_SITE: 'paris' });
    expect(d).toBeInstanceOf(LibvirtDriver);
    expect(d.site).toBe('paris');
    expect((d as LibvirtDriver & { storage: string }).storage).toBe('/var/lib/lifeboat/storage');
  });

  it('flags win over the environment', async () => {
    const d = await createSiteDriver('paris', { storage: '/srv/dr' }, env);
    expect((d as LibvirtDriver & { storage: string }).storage).toBe('/srv/dr');
  });

  it('no URI or no storage: no driver, and the error says what to set', async () => {
    for (const e of [
      {},
      { LIFEBOAT_SITE_URI: 'qemu:///system' },
      { LIBVIRT_DEFAULT_URI: 'qemu:///system' },
    ]) {
      const err = await createSiteDriver('nowhere', {}, e).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(PlatformError);
      expect((err as PlatformError).code).toBe('NO_SITE_DRIVER');
      expect((err as PlatformError).message).toContain('no driver configured for site nowhere');
      expect((err as PlatformError).hint).toContain('LIFEBOAT_SITE_URI');
    }
  });

  it('refuses to serve a site other than the one LIFEBOAT_SITE names', async () => {
    const err = await createSiteDriver('lyon', {}, { ...env, LIFEBOAT_SITE: 'paris' }).catch(
      (x: unknown) => x,
    );
    expect((err as PlatformError).code).toBe('NO_SITE_DRIVER');
    expect((err as PlatformError).message).toContain('configured for site paris, not lyon');
  });
});
