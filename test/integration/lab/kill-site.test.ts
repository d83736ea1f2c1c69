import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { SITE_TOPOLOGY } from '../../../lab/config.ts';
import { spawnInSite } from '../../../lab/exec.ts';
import { labKillSite, labReset } from '../../../lab/lab.ts';
import { readState } from '../../../lab/state.ts';
import { labStatus } from '../../../lab/status.ts';
import { ensureFreshLab, fingerprint, livePids } from '../../support/lab.ts';

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function eventually(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

describe('lab kill-site', () => {
  beforeAll(async () => {
    await ensureFreshLab();
  });

  it('SIGKILLs every process of the site by pid, and its disks stop changing', async () => {
    // A long-lived process started in the site the way site workers are, with a child of its
    // own (as a worker has its qemu-img or nbdcopy), which the lab never recorded.
    const probe = await spawnInSite('primary', ['sh', '-c', 'sleep 600 & wait'], { key: 'probe' });
    await eventually(() => childrenOf(probe.pid).length === 1);
    const child = childrenOf(probe.pid)[0]!;
    const before = await labStatus();
    const p = before.sites.primary;
    const pids = [p.libvirtd!.pid, p.virtlogd!.pid, ...p.qemuPids, probe.pid];
    expect(p.qemuPids.length).toBeGreaterThan(0);
    expect(await livePids(pids)).toHaveLength(pids.length);

    const result = await labKillSite('primary');
    expect(result.killed.sort()).toEqual(expect.arrayContaining(pids.sort()));

    expect(await livePids(pids)).toEqual([]);
    expect(await livePids([child])).toEqual([]);
    // Nothing at all runs in the site's network namespace any more.
    expect(execFileSync('ip', ['netns', 'pids', SITE_TOPOLOGY.primary.netns]).toString().trim()).toBe('');
    const after = await labStatus();
    expect(after.sites.primary.killed).toBe(true);
    expect(after.sites.primary.qemuPids).toEqual([]);
    // The other site is untouched.
    expect(after.sites.secondary.libvirtd?.running).toBe(true);

    const disks = readState()!.vms.flatMap((vm) => vm.disks);
    const first = fingerprint(disks);
    await sleep(3_000);
    expect(fingerprint(disks)).toEqual(first);
  });

  it('reset brings the killed site back with every VM running', async () => {
    await labReset();
    const status = await labStatus();
    expect(status.sites.primary.killed).toBe(false);
    expect(status.sites.primary.libvirtd?.running).toBe(true);
    for (const vm of status.vms) expect(vm.state).toBe('running');
  });
});
