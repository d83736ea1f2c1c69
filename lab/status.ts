import { existsSync } from 'node:fs';
import { hostUri, LAB_SITES, type LabSiteName, SITE_TOPOLOGY } from './config.ts';
import { linkStates, netnsExists } from './net.ts';
import { isRunning } from './proc.ts';
import { tryVirsh } from './site.ts';
import { qemuProcs } from './site-procs.ts';
import { readState } from './state.ts';
import { lastAckedSeq, serialText } from './vms.ts';

export interface LabStatus {
  up: boolean;
  ready: boolean;
  runbook?: string;
  cut: boolean;
  relay?: { pid: number; running: boolean; listen: string };
  sites: Record<
    LabSiteName,
    {
      netns?: string;
      netnsExists: boolean;
      uri: string;
      killed: boolean;
      isolated: boolean;
      libvirtd?: { pid: number; running: boolean };
      virtlogd?: { pid: number; running: boolean };
      processes: Record<string, { pid: number; running: boolean; log: string }>;
      qemuPids: number[];
      links: Record<string, string>;
    }
  >;
  vms: Array<{
    name: string;
    group: string;
    site: string;
    domain: string;
    state: string;
    address: string;
    lastSeq: number;
    /** Host paths: disks (system first) and serial log. */
    disks: string[];
    serialLog: string;
  }>;
}

const proc = (r: { pid: number; startTime: string; what: string } | undefined) =>
  r ? { pid: r.pid, running: isRunning(r) } : undefined;

export async function labStatus(home?: string): Promise<LabStatus> {
  const state = readState(home);
  const sites = {} as LabStatus['sites'];
  for (const site of LAB_SITES) {
    const s = state?.sites[site];
    const t = SITE_TOPOLOGY[site];
    const exists = s?.netns ? await netnsExists(s.netns) : false;
    const processes: LabStatus['sites'][LabSiteName]['processes'] = {};
    for (const [k, p] of Object.entries(s?.processes ?? {}))
      processes[k] = { pid: p.pid, running: isRunning(p), log: p.log };
    sites[site] = {
      netns: s?.netns,
      netnsExists: exists,
      uri: hostUri(site, home),
      killed: s?.killed ?? false,
      isolated: s?.isolated ?? false,
      libvirtd: proc(s?.libvirtd),
      virtlogd: proc(s?.virtlogd),
      processes,
      qemuPids: qemuProcs(site, home).map((r) => r.pid),
      links: exists ? await linkStates(t.netns) : {},
    };
  }
  const vms: LabStatus['vms'] = [];
  for (const vm of state?.vms ?? []) {
    const alive = isRunning(state?.sites[vm.site].libvirtd);
    const st = alive ? await tryVirsh(vm.site, ['domstate', vm.domain], home, 10_000) : undefined;
    vms.push({
      name: vm.name,
      group: vm.group,
      site: vm.site,
      domain: vm.domain,
      state: st ? (st.code === 0 ? st.stdout.trim() : 'undefined') : 'site down',
      address: vm.address,
      lastSeq: existsSync(vm.serialLog) ? lastAckedSeq(serialText(vm)) : 0,
      disks: vm.disks,
      serialLog: vm.serialLog,
    });
  }
  return {
    up: state !== undefined && sites.primary.netnsExists,
    ready: state?.ready !== undefined,
    runbook: state?.runbook,
    cut: state?.cut ?? false,
    relay: state?.relay
      ? { pid: state.relay.pid, running: isRunning(state.relay), listen: state.relay.listen }
      : undefined,
    sites,
    vms,
  };
}
