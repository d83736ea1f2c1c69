import path from 'node:path';
import { lifeboatHome } from '../platform/home.ts';

/**
 * The lab's fixed topology: two sites, each a network namespace and a persistent mount
 * namespace with its own libvirtd + virtlogd; a management bridge on the host and a dedicated
 * inter-site veth pair. Addresses come from 10.213.0.0/16, which nothing else here uses.
 */
export type LabSiteName = 'primary' | 'secondary';
export const LAB_SITES: readonly LabSiteName[] = ['primary', 'secondary'];

export function isLabSiteName(name: string): name is LabSiteName {
  return name === 'primary' || name === 'secondary';
}

export const MGMT_BRIDGE = 'lbmgmt0';
export const MGMT_HOST_ADDRESS = '10.213.0.1';
export const MGMT_PREFIX = 24;

/** Where the site's storage is mounted inside its mount namespace (the runbook's `storage`). */
export const SITE_STORAGE_PATH = '/var/lib/lifeboat/storage';
/** Where the guest's kernel and initramfs are mounted (read-only) inside every site. */
export const SITE_GUEST_PATH = '/var/lib/lifeboat/guest';
/** Inside a site, libvirt is the plain system URI. */
export const SITE_INNER_URI = 'qemu:///system';

/** Production network: the same subnet on both sites, so a VM keeps its address after failover. */
export const PRODUCTION_NETWORK = {
  name: 'production',
  bridge: 'lbprod0',
  address: '192.168.100.1',
  prefix: 24,
} as const;
/** Isolated drill network on the secondary: no forwarding, no DNS, no DHCP. */
export const BUBBLE_NETWORK = {
  name: 'bubble',
  bridge: 'lbbubble0',
  address: '192.168.150.1',
  prefix: 24,
} as const;

export interface SiteTopology {
  name: LabSiteName;
  netns: string;
  /** Management link: host end (on the bridge) and site end with its address. */
  mgmtHostIf: string;
  mgmtSiteIf: string;
  mgmtAddress: string;
  /** Inter-site link: this site's end of the veth pair and its address (/30). */
  interIf: string;
  interAddress: string;
  interPrefix: number;
  /** libvirt networks defined on this site. */
  networks: readonly string[];
}

export const SITE_TOPOLOGY: Record<LabSiteName, SiteTopology> = {
  primary: {
    name: 'primary',
    netns: 'lb-primary',
    mgmtHostIf: 'lbm-primary',
    mgmtSiteIf: 'mgmt0',
    mgmtAddress: '10.213.0.2',
    interIf: 'inter0',
    interAddress: '10.213.1.1',
    interPrefix: 30,
    networks: [PRODUCTION_NETWORK.name],
  },
  secondary: {
    name: 'secondary',
    netns: 'lb-secondary',
    mgmtHostIf: 'lbm-secondary',
    mgmtSiteIf: 'mgmt0',
    mgmtAddress: '10.213.0.3',
    interIf: 'inter0',
    interAddress: '10.213.1.2',
    interPrefix: 30,
    networks: [PRODUCTION_NETWORK.name, BUBBLE_NETWORK.name],
  },
};

export function otherSite(site: LabSiteName): LabSiteName {
  return site === 'primary' ? 'secondary' : 'primary';
}

/** All the lab's host paths, under `<home>/lab/`. */
export function labPaths(home: string = lifeboatHome()) {
  const root = path.join(home, 'lab');
  return {
    home,
    root,
    state: path.join(root, 'state.json'),
    lock: path.join(root, 'lock'),
    /** Bind-mounted onto itself and made private, so it can hold persistent mount namespaces. */
    nsDir: path.join(root, 'ns'),
    relayLog: path.join(root, 'relay.log'),
    cacheDir: path.join(home, 'cache'),
  };
}

export function sitePaths(site: LabSiteName, home: string = lifeboatHome()) {
  const root = path.join(labPaths(home).root, site);
  return {
    root,
    mntns: path.join(labPaths(home).nsDir, `${site}.mnt`),
    run: path.join(root, 'run'),
    etc: path.join(root, 'etc'),
    lib: path.join(root, 'lib'),
    log: path.join(root, 'log'),
    cache: path.join(root, 'cache'),
    storage: path.join(root, 'storage'),
    golden: path.join(root, 'golden'),
    workerLog: path.join(root, 'worker.log'),
    /** libvirtd's socket as the host sees it. */
    socket: path.join(root, 'run', 'libvirt-sock'),
    libvirtdPid: path.join(root, 'run', 'libvirtd.pid'),
    virtlogdPid: path.join(root, 'run', 'virtlogd.pid'),
    qemuPidDir: path.join(root, 'run', 'qemu'),
  };
}

/** The libvirt URI of a site as seen from the host. */
export function hostUri(site: LabSiteName, home: string = lifeboatHome()): string {
  return `qemu:///system?socket=${sitePaths(site, home).socket}`;
}

/** Translates a path inside a site's mount namespace into the host path of the same file. */
export function hostPathOf(site: LabSiteName, innerPath: string, home: string = lifeboatHome()): string {
  const p = sitePaths(site, home);
  const maps: Array<[string, string]> = [
    [SITE_STORAGE_PATH, p.storage],
    ['/run/libvirt', p.run],
    ['/etc/libvirt', p.etc],
    ['/var/lib/libvirt', p.lib],
    ['/var/log/libvirt', p.log],
    ['/var/cache/libvirt', p.cache],
  ];
  for (const [inner, host] of maps) {
    if (innerPath === inner) return host;
    if (innerPath.startsWith(`${inner}/`)) return path.join(host, innerPath.slice(inner.length + 1));
  }
  return innerPath;
}
