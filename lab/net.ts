import { readFileSync } from 'node:fs';
import { type LabSiteName, MGMT_BRIDGE, MGMT_HOST_ADDRESS, MGMT_PREFIX, SITE_TOPOLOGY } from './config.ts';
import { run, tryRun } from './run.ts';
import type { LabState } from './state.ts';

/**
 * The lab's links, all created with `ip` and an argument array:
 * - a host bridge (management) with one isolated port per site: each site reaches the host,
 *   never the other site, over it;
 * - one veth pair directly between the two site namespaces (the inter-site link).
 */

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  const args = netns ? ['-n', netns, 'link', 'show', 'dev', name] : ['link', 'show', 'dev', name];
  return (await tryRun('ip', args)).code === 0;
}

export async function netnsExists(name: string): Promise<boolean> {
  const r = await tryRun('ip', ['netns', 'list']);
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

export async function ensureBridge(state: LabState): Promise<void> {
  if (!(await linkExists(MGMT_BRIDGE))) {
    await run('ip', ['link', 'add', MGMT_BRIDGE, 'type', 'bridge']);
    state.bridge = MGMT_BRIDGE;
    await run('ip', ['addr', 'add', `${MGMT_HOST_ADDRESS}/${MGMT_PREFIX}`, 'dev', MGMT_BRIDGE]);
  }
  state.bridge = MGMT_BRIDGE;
  await run('ip', ['link', 'set', MGMT_BRIDGE, 'up']);
}

export async function ensureSiteNetns(site: LabSiteName, state: LabState): Promise<void> {
  const t = SITE_TOPOLOGY[site];
  if (!(await netnsExists(t.netns))) await run('ip', ['netns', 'add', t.netns]);
  state.sites[site].netns = t.netns;
  await run('ip', ['-n', t.netns, 'link', 'set', 'lo', 'up']);
}

/** The site's management link: host end on the bridge (isolated port), site end addressed. */
export async function ensureMgmtLink(site: LabSiteName, state: LabState): Promise<void> {
  const t = SITE_TOPOLOGY[site];
  if (!(await linkExists(t.mgmtHostIf))) {
    await run('ip', [
      'link',
      'add',
      t.mgmtHostIf,
      'type',
      'veth',
      'peer',
      'name',
      t.mgmtSiteIf,
      'netns',
      t.netns,
    ]);
    await run('ip', ['-n', t.netns, 'addr', 'add', `${t.mgmtAddress}/${MGMT_PREFIX}`, 'dev', t.mgmtSiteIf]);
  }
  const ifs = state.sites[site].hostInterfaces;
  if (!ifs.includes(t.mgmtHostIf)) ifs.push(t.mgmtHostIf);
  await run('ip', ['link', 'set', t.mgmtHostIf, 'master', MGMT_BRIDGE]);
  // Isolated bridge ports talk to the bridge (the host), never to each other: the sites' only
  // path to one another is the inter-site link, so `cut` really separates them.
  await run('ip', ['link', 'set', 'dev', t.mgmtHostIf, 'type', 'bridge_slave', 'isolated', 'on']);
  await run('ip', ['link', 'set', t.mgmtHostIf, 'up']);
  if (!state.sites[site].isolated) await run('ip', ['-n', t.netns, 'link', 'set', t.mgmtSiteIf, 'up']);
}

/** The veth pair between the two sites' namespaces. */
export async function ensureInterLink(state: LabState): Promise<void> {
  const p = SITE_TOPOLOGY.primary;
  const s = SITE_TOPOLOGY.secondary;
  if (!(await linkExists(p.interIf, p.netns))) {
    await run('ip', [
      '-n',
      p.netns,
      'link',
      'add',
      p.interIf,
      'type',
      'veth',
      'peer',
      'name',
      s.interIf,
      'netns',
      s.netns,
    ]);
    await run('ip', ['-n', p.netns, 'addr', 'add', `${p.interAddress}/${p.interPrefix}`, 'dev', p.interIf]);
    await run('ip', ['-n', s.netns, 'addr', 'add', `${s.interAddress}/${s.interPrefix}`, 'dev', s.interIf]);
  }
  state.interLink = true;
  await applyLinkStates(state);
}

/** Brings every link up or down as `cut` and `isolated` say. */
export async function applyLinkStates(state: LabState): Promise<void> {
  const p = SITE_TOPOLOGY.primary;
  const s = SITE_TOPOLOGY.secondary;
  const interUp = !state.cut && !state.sites.primary.isolated && !state.sites.secondary.isolated;
  for (const t of [p, s]) {
    if (!(await linkExists(t.interIf, t.netns))) continue;
    await run('ip', ['-n', t.netns, 'link', 'set', t.interIf, interUp ? 'up' : 'down']);
  }
  for (const t of [p, s]) {
    if (!(await linkExists(t.mgmtSiteIf, t.netns))) continue;
    await run('ip', [
      '-n',
      t.netns,
      'link',
      'set',
      t.mgmtSiteIf,
      state.sites[t.name].isolated ? 'down' : 'up',
    ]);
  }
}

/** Interface name -> operational state inside a namespace (or on the host). */
export async function linkStates(netns?: string): Promise<Record<string, string>> {
  const args = netns ? ['-n', netns, '-j', 'link', 'show'] : ['-j', 'link', 'show'];
  const r = await tryRun('ip', args);
  if (r.code !== 0) return {};
  const out: Record<string, string> = {};
  for (const l of JSON.parse(r.stdout) as Array<{ ifname: string; flags: string[] }>) {
    out[l.ifname] = l.flags.includes('UP') ? 'up' : 'down';
  }
  return out;
}

/** True when `dir` is a mount point of this (the host's) mount namespace. */
export function isMountPoint(dir: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return mounts.some((line) => line.split(' ')[4] === dir);
}
