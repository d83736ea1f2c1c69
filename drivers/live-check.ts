/**
 * Live checks: a compiled Plan against the running sites, through their drivers. Returns
 * findings as data with a path into the runbook (`groups[1].vms[0]`, `sites.secondary.storage`);
 * the CLI turns the path into file:line:col like the static checks. Reads only; changes nothing.
 */

import type { Plan, SiteRole } from '../runbooks/plan.ts';
import { isDriverError, SiteUnreachableError, VmNotFoundError } from './errors.ts';
import type { NetworkInfo, SiteDriver, VmInfo } from './types.ts';

export type LiveFindingCode =
  | 'site-unreachable'
  | 'vm-missing'
  | 'disk-mismatch'
  | 'disk-unreadable'
  | 'vm-network-unmapped'
  | 'network-missing'
  | 'network-inactive'
  | 'storage-missing'
  | 'storage-not-writable'
  | 'insufficient-space'
  | 'insufficient-memory';

export interface LiveFinding {
  severity: 'error' | 'warning';
  code: LiveFindingCode;
  message: string;
  hint?: string;
  /** Path into the runbook document, e.g. `groups[1].vms[0]`; '' for the document. */
  path: string;
  site: SiteRole;
}

export interface LiveCheckOptions {
  /**
   * The runbook's group names in file order. The Plan lists groups in wave order, so without
   * this the `groups[i]` in paths are Plan indices, which may not match the file.
   */
  groupOrder?: readonly string[];
  /** Fraction of each disk's virtual size reserved for drill overlays (default 0.1). */
  overlayFraction?: number;
  /** Memory a QEMU process needs beyond its guest's RAM (default 64 MiB). */
  perVmOverheadBytes?: number;
}

const MiB = 1024 * 1024;

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** A VM as the Plan may describe it; `disks` (guest targets) is optional in the Plan. */
interface PlannedVm {
  name: string;
  disks?: ReadonlyArray<string | { target: string }>;
}

export async function liveCheck(
  plan: Plan,
  drivers: Record<SiteRole, SiteDriver>,
  opts: LiveCheckOptions = {},
): Promise<LiveFinding[]> {
  const findings: LiveFinding[] = [];
  const unreachable = new Set<SiteRole>();
  const add = (f: LiveFinding) => findings.push(f);

  /** Runs a site query; a dead site becomes one finding and skips that site's other checks. */
  async function ask<T>(role: SiteRole, fn: () => Promise<T>): Promise<T | undefined> {
    if (unreachable.has(role)) return undefined;
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SiteUnreachableError) {
        unreachable.add(role);
        add({
          severity: 'error',
          code: 'site-unreachable',
          message: `site ${plan.sites[role].name} (${role}) is unreachable: ${err.message}`,
          hint: err.hint,
          path: `sites.${role}.uri`,
          site: role,
        });
        return undefined;
      }
      throw err;
    }
  }

  // Networks first: a VM's NICs are judged against the mapping.
  const networks: Partial<Record<SiteRole, Map<string, NetworkInfo>>> = {};
  for (const role of ['primary', 'secondary'] as const) {
    const list = await ask(role, () => drivers[role].listNetworks());
    if (!list) continue;
    const byName = new Map(list.map((n) => [n.name, n]));
    networks[role] = byName;
    for (const [netRole, netName] of Object.entries(plan.sites[role].networks)) {
      const n = byName.get(netName);
      const path = `sites.${role}.networks.${netRole}`;
      if (!n) {
        add({
          severity: 'error',
          code: 'network-missing',
          message: `network '${netName}' (${netRole}) does not exist at site ${plan.sites[role].name}`,
          hint: `existing networks: ${[...byName.keys()].join(', ') || 'none'}`,
          path,
          site: role,
        });
      } else if (!n.active) {
        add({
          severity: 'warning',
          code: 'network-inactive',
          message: `network '${netName}' (${netRole}) at site ${plan.sites[role].name} is not active`,
          hint: `virsh net-start ${netName}`,
          path,
          site: role,
        });
      }
    }
  }

  // VMs at the primary: existence, disks, NICs. Their sizes feed the secondary's projection.
  const groupIndex = new Map((opts.groupOrder ?? plan.groups.map((g) => g.name)).map((n, i) => [n, i]));
  const mappedAtPrimary = new Set(Object.values(plan.sites.primary.networks));
  let replicaBytes = 0;
  let overlayBytes = 0;
  let guestMemoryBytes = 0;
  let vmCount = 0;
  for (const group of plan.groups) {
    const gi = groupIndex.get(group.name) ?? plan.groups.indexOf(group);
    for (const [vi, vm] of (group.vms as PlannedVm[]).entries()) {
      const path = `groups[${gi}].vms[${vi}]`;
      const info = await ask('primary', async () => {
        try {
          return await drivers.primary.inspectVm(vm.name);
        } catch (err) {
          if (err instanceof VmNotFoundError) return null;
          throw err;
        }
      });
      if (info === undefined) continue;
      if (info === null) {
        add({
          severity: 'error',
          code: 'vm-missing',
          message: `VM '${vm.name}' does not exist at the primary site ${plan.sites.primary.name}`,
          hint: 'check the name, or define the VM at the primary',
          path,
          site: 'primary',
        });
        continue;
      }
      vmCount++;
      guestMemoryBytes += info.memoryMiB * MiB;
      checkDiskTargets(vm, info, path, add);
      for (const nic of info.nics) {
        if (nic.network !== '' && !mappedAtPrimary.has(nic.network)) {
          add({
            severity: 'error',
            code: 'vm-network-unmapped',
            message: `VM '${vm.name}' has a NIC on network '${nic.network}', which sites.primary.networks does not map`,
            hint: `add a role for it, e.g. sites.primary.networks.production: ${nic.network}`,
            path,
            site: 'primary',
          });
        }
      }
      for (const disk of info.disks.filter((d) => (d.device ?? 'disk') === 'disk')) {
        const img = await ask('primary', async () => {
          try {
            return await drivers.primary.imageInfo(disk.source);
          } catch (err) {
            if (isDriverError(err) && !(err instanceof SiteUnreachableError)) return err;
            throw err;
          }
        });
        if (img === undefined) continue;
        if (img instanceof Error) {
          add({
            severity: 'error',
            code: 'disk-unreadable',
            message: `disk ${disk.target} of VM '${vm.name}' (${disk.source}) cannot be read: ${img.message}`,
            hint: 'the image must exist and be readable at the primary',
            path,
            site: 'primary',
          });
          continue;
        }
        replicaBytes += img.virtualSizeBytes;
        overlayBytes += Math.ceil(img.virtualSizeBytes * (opts.overlayFraction ?? 0.1));
      }
    }
  }

  // Storage at both sites; space and memory at the secondary.
  for (const role of ['primary', 'secondary'] as const) {
    const dir = plan.sites[role].storage;
    const st = await ask(role, () => drivers[role].storageInfo(dir));
    if (!st) continue;
    const path = `sites.${role}.storage`;
    if (!st.exists) {
      add({
        severity: 'error',
        code: 'storage-missing',
        message: `storage directory ${dir} does not exist at site ${plan.sites[role].name}`,
        hint: `create it: mkdir -p ${dir}`,
        path,
        site: role,
      });
      continue;
    }
    if (!st.writable) {
      add({
        severity: 'error',
        code: 'storage-not-writable',
        message: `storage directory ${dir} at site ${plan.sites[role].name} is not writable`,
        hint: 'check its permissions and that it is not mounted read-only',
        path,
        site: role,
      });
    }
    if (role === 'secondary' && !unreachable.has('primary')) {
      const need = replicaBytes + overlayBytes;
      if (st.freeBytes < need) {
        add({
          severity: 'error',
          code: 'insufficient-space',
          message: `storage ${dir} at site ${plan.sites[role].name} has ${gib(st.freeBytes)} free; the replicas need up to ${gib(replicaBytes)} plus ${gib(overlayBytes)} for drill overlays`,
          hint: 'free space or point sites.secondary.storage at a larger volume',
          path,
          site: role,
        });
      }
    }
  }

  if (!unreachable.has('primary') && vmCount > 0) {
    const host = await ask('secondary', () => drivers.secondary.hostInfo());
    if (host) {
      const need = guestMemoryBytes + vmCount * (opts.perVmOverheadBytes ?? 64 * MiB);
      if (host.availableMemoryBytes < need) {
        add({
          severity: 'error',
          code: 'insufficient-memory',
          message: `site ${plan.sites.secondary.name} has ${gib(host.availableMemoryBytes)} of memory available; the ${vmCount} failover VMs need ${gib(need)}`,
          hint: 'free memory at the secondary, or fail over fewer groups',
          path: 'sites.secondary',
          site: 'secondary',
        });
      }
    }
  }
  return findings;
}

function checkDiskTargets(vm: PlannedVm, info: VmInfo, path: string, add: (f: LiveFinding) => void): void {
  if (!vm.disks) return;
  const expected = vm.disks.map((d) => (typeof d === 'string' ? d : d.target)).sort();
  const actual = info.disks
    .filter((d) => (d.device ?? 'disk') === 'disk')
    .map((d) => d.target)
    .sort();
  if (expected.join(',') !== actual.join(',')) {
    add({
      severity: 'error',
      code: 'disk-mismatch',
      message: `VM '${vm.name}' has disks [${actual.join(', ')}] at the primary; the runbook expects [${expected.join(', ')}]`,
      hint: 'update the runbook or the VM definition',
      path,
      site: 'primary',
    });
  }
}
