import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MGMT_HOST_ADDRESS, SITE_TOPOLOGY } from '../../../lab/config.ts';
import { siteNetCommand } from '../../../lab/exec.ts';
import { labCut, labHeal, labIsolate, labRejoin } from '../../../lab/lab.ts';
import { tryVirsh } from '../../../lab/site.ts';
import { readState } from '../../../lab/state.ts';
import { labStatus } from '../../../lab/status.ts';
import { lastAckedSeq, serialText } from '../../../lab/vms.ts';
import { ensureFreshLab, tcpConnects } from '../../support/lab.ts';

const PORT = 7901;
const P = SITE_TOPOLOGY.primary;
const S = SITE_TOPOLOGY.secondary;

describe('lab links: cut, heal, isolate, rejoin', () => {
  const listeners: ChildProcess[] = [];
  let relayPort: number;

  beforeAll(async () => {
    const status = await ensureFreshLab();
    relayPort = Number(status.relay!.listen.split(':')[1]);
    // A TCP listener on every address of each site (inter-site and management).
    for (const site of ['primary', 'secondary'] as const) {
      const [f, ...a] = siteNetCommand(site, [
        'socat',
        `TCP-LISTEN:${PORT},reuseaddr,fork`,
        'OPEN:/dev/null',
      ]);
      listeners.push(spawn(f!, a, { stdio: 'ignore' }));
    }
    await sleep(500);
  });

  afterAll(async () => {
    for (const l of listeners) l.kill('SIGTERM');
    await labHeal();
    for (const site of ['primary', 'secondary'] as const) await labRejoin(site);
  });

  it('joins the sites by the inter-site link only; the management bridge never joins them', async () => {
    expect(await tcpConnects('primary', S.interAddress, PORT)).toBe(true);
    expect(await tcpConnects('secondary', P.interAddress, PORT)).toBe(true);
    expect(await tcpConnects('primary', S.mgmtAddress, PORT)).toBe(false);
    expect(await tcpConnects('primary', MGMT_HOST_ADDRESS, relayPort)).toBe(true);
  });

  it('cut stops traffic between the sites and not to the host; heal restores it', async () => {
    await labCut();
    expect(await tcpConnects('primary', S.interAddress, PORT)).toBe(false);
    expect(await tcpConnects('secondary', P.interAddress, PORT)).toBe(false);
    expect(await tcpConnects('primary', MGMT_HOST_ADDRESS, relayPort)).toBe(true);
    expect(await tcpConnects('secondary', MGMT_HOST_ADDRESS, relayPort)).toBe(true);
    expect((await labStatus()).cut).toBe(true);

    await labHeal();
    expect(await tcpConnects('primary', S.interAddress, PORT)).toBe(true);
  });

  it('isolate takes all links of a site down while its VMs keep running; rejoin brings them back', async () => {
    const vms = readState()!.vms;
    const before = vms.map((vm) => lastAckedSeq(serialText(vm)));
    const qemuBefore = (await labStatus()).sites.primary.qemuPids.sort();

    await labIsolate('primary');
    expect(await tcpConnects('primary', MGMT_HOST_ADDRESS, relayPort)).toBe(false);
    expect(await tcpConnects('primary', S.interAddress, PORT)).toBe(false);
    expect(await tcpConnects('secondary', P.interAddress, PORT)).toBe(false);
    // The other site still reaches the host.
    expect(await tcpConnects('secondary', MGMT_HOST_ADDRESS, relayPort)).toBe(true);

    await sleep(2_000);
    const status = await labStatus();
    expect(status.sites.primary.isolated).toBe(true);
    expect(status.sites.primary.qemuPids.sort()).toEqual(qemuBefore);
    for (const [i, vm] of vms.entries()) {
      expect((await tryVirsh('primary', ['domstate', vm.domain])).stdout.trim()).toBe('running');
      expect(lastAckedSeq(serialText(vm))).toBeGreaterThan(before[i]!);
    }

    await labRejoin('primary');
    expect(await tcpConnects('primary', MGMT_HOST_ADDRESS, relayPort)).toBe(true);
    expect(await tcpConnects('primary', S.interAddress, PORT)).toBe(true);
  });
});
