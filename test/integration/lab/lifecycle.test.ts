import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BUBBLE_NETWORK,
  LAB_SITES,
  labPaths,
  MGMT_BRIDGE,
  SITE_TOPOLOGY,
  sitePaths,
} from '../../../lab/config.ts';
import { labDown, labUp } from '../../../lab/lab.ts';
import { tryVirsh } from '../../../lab/site.ts';
import { readState, writeState } from '../../../lab/state.ts';
import { type LabStatus, labStatus } from '../../../lab/status.ts';
import { ensureFreshLab, livePids } from '../../support/lab.ts';

describe('lab up, status, down', () => {
  let status: LabStatus;
  beforeAll(async () => {
    status = await ensureFreshLab();
  });

  it('status shows both sites with their daemons, links and every VM of lab.yaml running on the primary', () => {
    expect(status.up && status.ready).toBe(true);
    for (const site of LAB_SITES) {
      const s = status.sites[site];
      expect(s.netnsExists).toBe(true);
      expect(s.libvirtd?.running).toBe(true);
      expect(s.virtlogd?.running).toBe(true);
      expect(s.links.inter0).toBe('up');
      expect(s.links.mgmt0).toBe('up');
    }
    expect(status.sites.secondary.links.lbbubble0).toBe('up');
    expect(status.vms.map((v) => v.name)).toEqual(['db-1', 'app-1', 'app-2', 'web-1']);
    for (const vm of status.vms) {
      expect(vm).toMatchObject({ site: 'primary', domain: vm.name, state: 'running' });
      expect(vm.lastSeq).toBeGreaterThan(0);
    }
    expect(status.sites.primary.qemuPids).toHaveLength(status.vms.length);
    expect(status.sites.secondary.qemuPids).toHaveLength(0);
    expect(status.relay?.running).toBe(true);
  });

  it('the bubble network exists only inside the secondary, and forwards nothing and serves no DHCP or DNS', async () => {
    const xml = (await tryVirsh('secondary', ['net-dumpxml', BUBBLE_NETWORK.name])).stdout;
    expect(xml).toContain(`<bridge name='${BUBBLE_NETWORK.bridge}'`);
    expect(xml).not.toContain('<forward');
    expect(xml).not.toContain('<dhcp');
    expect(xml).toMatch(/<dns enable=['"]no['"]/);
    // No dnsmasq runs for it, and its bridge is not the host's.
    expect(existsSync(path.join(sitePaths('secondary').run, 'network', `${BUBBLE_NETWORK.name}.pid`))).toBe(
      false,
    );
    expect(() => execFileSync('ip', ['link', 'show', BUBBLE_NETWORK.bridge], { stdio: 'pipe' })).toThrow();
    expect((await tryVirsh('primary', ['net-info', BUBBLE_NETWORK.name])).code).not.toBe(0);
    // Inside the site, libvirt rejects whatever would leave or enter it through a route.
    const rules = execFileSync('ip', [
      'netns',
      'exec',
      SITE_TOPOLOGY.secondary.netns,
      'iptables',
      '-S',
    ]).toString();
    expect(rules).toContain(`-o ${BUBBLE_NETWORK.bridge} -j REJECT`);
    expect(rules).toContain(`-i ${BUBBLE_NETWORK.bridge} -j REJECT`);
  });

  it('an `up` interrupted before it recorded its daemons: the next `up` stops them by their pid files, and runs one of each', async () => {
    // As if `up` was interrupted right after the secondary's daemons started: running, unrecorded.
    const state = readState()!;
    const left = [state.sites.secondary.libvirtd!, state.sites.secondary.virtlogd!];
    state.sites.secondary.libvirtd = undefined;
    state.sites.secondary.virtlogd = undefined;
    writeState(state);
    expect(await livePids(left.map((p) => p.pid))).toHaveLength(2);

    await labUp({ runbook: readState()!.runbook });

    expect(await livePids(left.map((p) => p.pid))).toEqual([]);
    status = await labStatus();
    const s = status.sites.secondary;
    expect(s.libvirtd?.running && s.virtlogd?.running).toBe(true);
    expect([s.libvirtd!.pid, s.virtlogd!.pid]).not.toContain(left[0]!.pid);
    // One libvirtd and one virtlogd in the site's namespace, and the site answers.
    const inSite = execFileSync('ip', ['netns', 'pids', SITE_TOPOLOGY.secondary.netns])
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((pid) =>
        existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '',
      );
    expect(inSite.filter((c) => c === 'libvirtd')).toHaveLength(1);
    expect(inSite.filter((c) => c === 'virtlogd')).toHaveLength(1);
    expect((await tryVirsh('secondary', ['net-info', BUBBLE_NETWORK.name])).code).toBe(0);
  });

  it('down ends every process by pid and removes namespaces, links, mounts and files; twice is fine', async () => {
    const pids = [
      status.relay!.pid,
      ...LAB_SITES.flatMap((site) => {
        const s = status.sites[site];
        return [
          s.libvirtd!.pid,
          s.virtlogd!.pid,
          ...s.qemuPids,
          ...Object.values(s.processes).map((p) => p.pid),
        ];
      }),
    ];
    expect(await livePids(pids)).toHaveLength(pids.length);

    expect(await labDown()).toEqual({ removed: true });

    expect(await livePids(pids)).toEqual([]);
    const netns = execFileSync('ip', ['netns', 'list']).toString();
    const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
    for (const site of LAB_SITES) {
      expect(netns).not.toContain(SITE_TOPOLOGY[site].netns);
      expect(links).not.toContain(SITE_TOPOLOGY[site].mgmtHostIf);
    }
    expect(links).not.toContain(MGMT_BRIDGE);
    const paths = labPaths();
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(paths.root);
    expect(readState()).toBeUndefined();
    for (const site of LAB_SITES) expect(existsSync(`${paths.root}/${site}`)).toBe(false);
    expect((await labStatus()).up).toBe(false);

    expect(await labDown()).toEqual({ removed: false });
  });
});
