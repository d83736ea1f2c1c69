/**
 * The libvirt site driver: what a site worker uses to act on its hypervisor.
 *
 *   const driver = createLibvirtDriver({ site: 'secondary', uri, storage });
 *
 * Offers the SiteDriver contract (drivers/types.ts) plus a few libvirt-only helpers on
 * LibvirtDriver (`vmState`, `defineDomain`, `agentCommand`, `qmp`). Errors are the typed errors
 * of drivers/errors.ts. Domain XML helpers are exported for callers that derive definitions.
 */

import { fenceOfVm } from '../fence-record.ts';
import { LibvirtDriver } from './driver.ts';
import type { RunCommand } from './exec.ts';
import { runCommand } from './exec.ts';
import { Virsh } from './virsh.ts';

export { buildDomainXml, validateDomainSpec, withUuid } from './domain-build.ts';
export { domainSpecFromXml, parseDomainXml } from './domain-xml.ts';
export { LibvirtDriver } from './driver.ts';
export type { CommandResult, RunCommand } from './exec.ts';
export { runCommand } from './exec.ts';

/** Bound on every virsh/qemu-img call: a dead site is reported within this. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

export interface LibvirtDriverConfig {
  /** The site's own name (not its role), used in errors and logs. */
  site: string;
  /** libvirt URI, e.g. `qemu:///system?socket=/.../libvirt-sock` or `qemu+tcp://10.77.0.2/system`. */
  uri: string;
  /** The site's storage directory (replicas, overlays). */
  storage: string;
  callTimeoutMs?: number;
  /** Process runner; tests inject one to observe or forbid spawns. */
  run?: RunCommand;
  virshPath?: string;
  qemuImgPath?: string;
  /** Maps a path as the site's daemon sees it to this process's view; identity by default. */
  hostPath?: (sitePath: string) => string;
}

export function createLibvirtDriver(
  config: LibvirtDriverConfig,
): LibvirtDriver & { readonly storage: string } {
  const virsh = new Virsh({
    site: config.site,
    uri: config.uri,
    run: config.run ?? runCommand,
    timeoutMs: config.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    virshPath: config.virshPath ?? 'virsh',
    qemuImgPath: config.qemuImgPath ?? 'qemu-img',
  });
  const driver = new LibvirtDriver({
    site: config.site,
    virsh,
    hostPath: config.hostPath ?? ((p) => p),
    // The site's own fences (drivers/fence-record.ts) are read before every start.
    fenceOf: (vm) => fenceOfVm(config.storage, config.site, vm),
  });
  return Object.assign(driver, { storage: config.storage });
}
