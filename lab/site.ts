import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { qemuHookScript } from '../drivers/libvirt/qemu-hook.ts';
import { livePidFromFile, readPidFile } from '../platform/processes.ts';
import {
  BUBBLE_NETWORK,
  hostUri,
  type LabSiteName,
  labPaths,
  PRODUCTION_NETWORK,
  SITE_GUEST_PATH,
  SITE_STORAGE_PATH,
  SITE_TOPOLOGY,
  sitePaths,
} from './config.ts';
import { LabError } from './errors.ts';
import { siteCommand } from './exec.ts';
import { isMountPoint } from './net.ts';
import { isRunning, type ProcRef, procRef, stopProc } from './proc.ts';
import { run, tryRun } from './run.ts';
import type { LabState } from './state.ts';

/** The site's own libvirt configuration: no TCP/TLS listener, QEMU as root, no cgroups. */
function libvirtdConf(): string {
  return [
    '# Written by lifeboat lab: this site is reached only through its unix socket.',
    'listen_tls = 0',
    'listen_tcp = 0',
    'auth_unix_ro = "none"',
    'auth_unix_rw = "none"',
    'unix_sock_rw_perms = "0700"',
    'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
    '',
  ].join('\n');
}

function qemuConf(): string {
  // root + no dynamic ownership: libvirt leaves disk files as they are, so the lab (and the
  // offline reader) can read them; no cgroups: two sites' domains never collide in the host's
  // cgroup tree.
  return [
    '# Written by lifeboat lab.',
    'user = "root"',
    'group = "root"',
    'dynamic_ownership = 0',
    'remember_owner = 0',
    'security_driver = "none"',
    'cgroup_controllers = [ ]',
    'namespaces = [ ]',
    '',
  ].join('\n');
}

export function productionNetworkXml(): string {
  const n = PRODUCTION_NETWORK;
  return `<network>
  <name>${n.name}</name>
  <forward mode='nat'/>
  <bridge name='${n.bridge}' stp='off' delay='0'/>
  <dns enable='no'/>
  <ip address='${n.address}' prefix='${n.prefix}'/>
</network>
`;
}

/** Isolated: no <forward>, DNS off and no DHCP, so libvirt starts no dnsmasq for it. */
export function bubbleNetworkXml(): string {
  const n = BUBBLE_NETWORK;
  return `<network>
  <name>${n.name}</name>
  <bridge name='${n.bridge}' stp='off' delay='0'/>
  <dns enable='no'/>
  <ip address='${n.address}' prefix='${n.prefix}'/>
</network>
`;
}

function hostUuid(site: LabSiteName): string {
  const h = createHash('sha256').update(`lifeboat-lab-host:${site}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Creates the site's directories and its libvirt configuration (idempotent). Returns whether the
 * qemu hook (the fence held by libvirt) was installed or changed: libvirtd reads hooks only when
 * it starts, so a running one must restart.
 */
export function prepareSiteFiles(site: LabSiteName, home?: string): { hookChanged: boolean } {
  const p = sitePaths(site, home);
  for (const d of [p.run, p.etc, p.log, p.cache, p.storage, p.golden]) mkdirSync(d, { recursive: true });
  for (const d of [
    'dnsmasq',
    'network',
    'images',
    'boot',
    'qemu/channel/target',
    'qemu/checkpoint',
    'qemu/snapshot',
  ]) {
    mkdirSync(path.join(p.lib, d), { recursive: true });
  }
  mkdirSync(path.join(p.log, 'qemu'), { recursive: true });
  writeFileSync(path.join(p.etc, 'libvirtd.conf'), `${libvirtdConf()}host_uuid = "${hostUuid(site)}"\n`);
  writeFileSync(path.join(p.etc, 'qemu.conf'), qemuConf());
  // Serial logs are read whole by the lab and the drivers: rotate rarely (the default is 2 MiB).
  writeFileSync(
    path.join(p.etc, 'virtlogd.conf'),
    'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"\nmax_size = 268435456\nmax_backups = 1\n',
  );
  mkdirSync(path.join(p.etc, 'qemu', 'networks'), { recursive: true });
  return { hookChanged: installQemuHook(p.etc) };
}

/** `<etc>/hooks/qemu`: a fenced VM does not start at the site, whoever asks (deploy/libvirt-hooks). */
function installQemuHook(etc: string): boolean {
  const file = path.join(etc, 'hooks', 'qemu');
  const text = qemuHookScript(SITE_STORAGE_PATH);
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return false;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, 0o755);
  return true;
}

/** Stops the site's libvirtd (its domains run on), so the next `startDaemons` starts it afresh. */
export async function stopLibvirtd(site: LabSiteName, state: LabState): Promise<void> {
  await stopProc(state.sites[site].libvirtd, 15_000);
}

/** Makes `<home>/lab/ns` a private mount point, the only kind that can hold a mount namespace. */
export async function ensureNsDir(state: LabState, home?: string): Promise<void> {
  const dir = labPaths(home).nsDir;
  mkdirSync(dir, { recursive: true });
  if (!isMountPoint(dir)) {
    await run('mount', ['--bind', dir, dir]);
    state.nsDirMounted = true;
  }
  await run('mount', ['--make-private', dir]);
  state.nsDirMounted = true;
}

/** Mount points the site namespaces need that the host may lack; created ones are recorded. */
export function ensureHostMountPoints(state: LabState): void {
  for (const dir of ['/run/libvirt', SITE_STORAGE_PATH, SITE_GUEST_PATH]) {
    if (existsSync(dir)) continue;
    // Record the topmost directory we create, so `down` removes exactly that (when empty).
    let top = dir;
    while (!existsSync(path.dirname(top))) top = path.dirname(top);
    mkdirSync(dir, { recursive: true });
    if (!state.hostDirs.includes(top)) state.hostDirs.push(top);
  }
}

/**
 * The site's persistent mount namespace: entered from its network namespace (so its /sys shows
 * the site's interfaces, which libvirt reads), with the site's own libvirt directories, storage
 * and the guest (read-only) bind-mounted at the standard paths.
 */
export async function ensureMountNamespace(
  site: LabSiteName,
  state: LabState,
  guestDir: string,
  home?: string,
) {
  const p = sitePaths(site, home);
  const t = SITE_TOPOLOGY[site];
  const inNs = (argv: string[]) => {
    const [f, ...a] = siteCommand(site, argv, home);
    return run(f!, a);
  };
  if (isMountPoint(p.mntns)) {
    state.sites[site].mntns = p.mntns;
    if (state.sites[site].guestDir !== guestDir) {
      // A rebuilt guest (new content hash): swap the read-only guest mount in place.
      await inNs(['umount', '--lazy', SITE_GUEST_PATH]);
      await inNs(['mount', '--bind', guestDir, SITE_GUEST_PATH]);
      await inNs(['mount', '-o', 'remount,bind,ro', SITE_GUEST_PATH]);
      state.sites[site].guestDir = guestDir;
    }
    return;
  }
  writeFileSync(p.mntns, '');
  await run('nsenter', [
    `--net=/run/netns/${t.netns}`,
    'unshare',
    `--mount=${p.mntns}`,
    '--propagation',
    'private',
    'true',
  ]);
  state.sites[site].mntns = p.mntns;
  await inNs(['mount', '-t', 'sysfs', 'sysfs', '/sys']);
  const binds: Array<[string, string]> = [
    [p.run, '/run/libvirt'],
    [p.etc, '/etc/libvirt'],
    [p.lib, '/var/lib/libvirt'],
    [p.log, '/var/log/libvirt'],
    [p.cache, '/var/cache/libvirt'],
    [p.storage, SITE_STORAGE_PATH],
    [guestDir, SITE_GUEST_PATH],
  ];
  for (const [from, to] of binds) await inNs(['mount', '--bind', from, to]);
  await inNs(['mount', '-o', 'remount,bind,ro', SITE_GUEST_PATH]);
  state.sites[site].guestDir = guestDir;
}

async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await sleep(50);
  }
  return false;
}

/**
 * The daemon `pidFile` names, when it runs in the site's own network namespace (which the lab
 * created, so whatever runs there is the lab's) and is that daemon: one a `lab up` started but
 * was interrupted before it recorded it in the lab state.
 */
function unrecordedDaemon(site: LabSiteName, daemon: string, pidFile: string): ProcRef | undefined {
  const pid = livePidFromFile(pidFile, daemon);
  if (pid === undefined) return undefined;
  try {
    const siteNs = statSync(path.join('/run/netns', SITE_TOPOLOGY[site].netns)).ino;
    if (statSync(`/proc/${pid}/ns/net`).ino !== siteNs) return undefined;
  } catch {
    return undefined;
  }
  return procRef(pid, `${daemon} (${site})`);
}

/** Stops the site's daemons that the lab state does not name (see unrecordedDaemon), by pid. */
export async function stopUnrecordedDaemons(site: LabSiteName, home?: string): Promise<void> {
  const p = sitePaths(site, home);
  await stopProc(unrecordedDaemon(site, 'libvirtd', p.libvirtdPid), 10_000);
  await stopProc(unrecordedDaemon(site, 'virtlogd', p.virtlogdPid), 5_000);
}

/** Starts the site's virtlogd and libvirtd (daemonized, pidfiles in the site's /run/libvirt). */
export async function startDaemons(site: LabSiteName, state: LabState, home?: string): Promise<void> {
  const p = sitePaths(site, home);
  const s = state.sites[site];
  if (isRunning(s.libvirtd) && isRunning(s.virtlogd)) return;
  await stopProc(s.libvirtd);
  await stopProc(s.virtlogd);
  // Daemons the state does not know would hold the site's sockets beside the new ones.
  await stopUnrecordedDaemons(site, home);
  rmSync(p.libvirtdPid, { force: true });
  rmSync(p.virtlogdPid, { force: true });
  rmSync(p.socket, { force: true });
  const start = async (daemon: 'virtlogd' | 'libvirtd', pidFile: string) => {
    const [f, ...a] = siteCommand(site, [daemon, '-d', '-p', `/run/libvirt/${daemon}.pid`], home);
    await run(f!, a, { hint: `see ${path.join(p.log, `${daemon}.log`)}` });
    let ref: ProcRef | undefined;
    await waitFor(() => {
      const pid = readPidFile(pidFile);
      ref = pid === undefined ? undefined : procRef(pid, `${daemon} (${site})`);
      return ref !== undefined;
    }, 10_000);
    if (!ref) {
      throw new LabError(
        'SITE_START_FAILED',
        `${daemon} of site ${site} did not start`,
        { site },
        `see ${p.log}`,
      );
    }
    return ref;
  };
  s.virtlogd = await start('virtlogd', p.virtlogdPid);
  s.libvirtd = await start('libvirtd', p.libvirtdPid);
  const ok = await waitFor(
    async () => (await tryRun('virsh', ['-c', hostUri(site, home), 'version'])).code === 0,
    20_000,
  );
  if (!ok) {
    throw new LabError(
      'SITE_START_FAILED',
      `libvirtd of site ${site} does not answer`,
      { site },
      `see ${p.log}`,
    );
  }
  s.killed = false;
}

export async function virsh(
  site: LabSiteName,
  args: string[],
  home?: string,
  timeoutMs = 60_000,
): Promise<string> {
  return run('virsh', ['-q', '-c', hostUri(site, home), ...args], { timeoutMs });
}

export async function tryVirsh(site: LabSiteName, args: string[], home?: string, timeoutMs = 60_000) {
  return tryRun('virsh', ['-q', '-c', hostUri(site, home), ...args], { timeoutMs });
}

/** Defines and starts the site's libvirt networks (production; bubble on the secondary). */
export async function ensureNetworks(site: LabSiteName, home?: string): Promise<void> {
  const p = sitePaths(site, home);
  const wanted = SITE_TOPOLOGY[site].networks;
  const existing = (await virsh(site, ['net-list', '--all', '--name'], home))
    .split('\n')
    .map((l) => l.trim());
  for (const name of wanted) {
    if (!existing.includes(name)) {
      const xml = name === PRODUCTION_NETWORK.name ? productionNetworkXml() : bubbleNetworkXml();
      const file = path.join(p.root, `net-${name}.xml`);
      writeFileSync(file, xml);
      await virsh(site, ['net-define', file], home);
      await virsh(site, ['net-autostart', name], home);
    }
    const active = (await virsh(site, ['net-list', '--name'], home)).split('\n').map((l) => l.trim());
    if (!active.includes(name)) await virsh(site, ['net-start', name], home);
  }
}
