/**
 * Live checks: a compiled Plan against the running sites. The comparison is pure
 * (`checkInventories` over each site's inventory, see drivers/inventory.ts), so it runs wherever
 * the inventories arrive: the CLI gets them from each site's own worker. Findings are data with a
 * path into the runbook (`groups[1].vms[0]`, `sites.secondary.storage`); the CLI turns the path
 * into file:line:col like the static checks. `liveCheck` is the same check through drivers the
 * caller holds (tests, tools on a host that reaches both hypervisors).
 */

import type { LiveFindingCode } from '../runbooks/findings.ts';
import type { Plan, SiteRole } from '../runbooks/plan.ts';
import {
  collectInventory,
  inventoryRequests,
  type ReachableSite,
  type SiteInventory,
  type VmInventory,
} from './inventory.ts';
import type { SiteDriver, VmInfo } from './types.ts';

export type { LiveFindingCode };

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
const ROLES = ['primary', 'secondary'] as const;

export function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** A VM as the Plan may describe it; `disks` (guest targets) is optional in the Plan. */
interface PlannedVm {
  name: string;
  disks?: ReadonlyArray<string | { target: string }>;
}

/** What the secondary must hold for a failover of every VM found at the primary. */
export interface LiveNeeds {
  vmCount: number;
  replicaBytes: number;
  overlayBytes: number;
  /** Guest RAM plus each QEMU's overhead. */
  memoryBytes: number;
}

export function projectNeeds(primary: ReachableSite, opts: LiveCheckOptions = {}): LiveNeeds {
  const found = primary.vms.filter((v): v is Extract<VmInventory, { found: true }> => v.found);
  let replicaBytes = 0;
  let overlayBytes = 0;
  for (const vm of found) {
    for (const d of vm.images) {
      if (!d.image) continue;
      replicaBytes += d.image.virtualSizeBytes;
      overlayBytes += Math.ceil(d.image.virtualSizeBytes * (opts.overlayFraction ?? 0.1));
    }
  }
  const guest = found.reduce((sum, v) => sum + v.info.memoryMiB * MiB, 0);
  return {
    vmCount: found.length,
    replicaBytes,
    overlayBytes,
    memoryBytes: guest + found.length * (opts.perVmOverheadBytes ?? 64 * MiB),
  };
}

/** The Plan against both sites' inventories; pure. */
export function checkInventories(
  plan: Plan,
  inventories: Record<SiteRole, SiteInventory>,
  opts: LiveCheckOptions = {},
): LiveFinding[] {
  const findings: LiveFinding[] = [];
  const add = (f: LiveFinding) => findings.push(f);
  const site = (role: SiteRole) => plan.sites[role].name;
  const up: Partial<Record<SiteRole, ReachableSite>> = {};

  for (const role of ROLES) {
    const inv = inventories[role];
    if (inv.reachable) {
      up[role] = inv;
      continue;
    }
    if (inv.reason === 'hypervisor-unreachable') {
      add({
        severity: 'error',
        code: 'site-unreachable',
        message: `site ${site(role)} (${role}) is unreachable: ${inv.message}`,
        hint: inv.hint,
        path: `sites.${role}.uri`,
        site: role,
      });
    } else {
      add({
        severity: 'error',
        code: inv.reason === 'no-worker' ? 'site-worker-unavailable' : 'live-check-failed',
        message: `site ${site(role)} (${role}) could not be checked: ${inv.message}`,
        hint: inv.hint,
        path: `sites.${role}.name`,
        site: role,
      });
    }
  }

  // Networks first: a VM's NICs are judged against the mapping.
  for (const role of ROLES) {
    const inv = up[role];
    if (!inv) continue;
    const byName = new Map(inv.networks.map((n) => [n.name, n]));
    for (const [netRole, netName] of Object.entries(plan.sites[role].networks)) {
      const n = byName.get(netName);
      const path = `sites.${role}.networks.${netRole}`;
      if (!n) {
        add({
          severity: 'error',
          code: 'network-missing',
          message: `network '${netName}' (${netRole}) does not exist at site ${site(role)}`,
          hint: `existing networks: ${[...byName.keys()].join(', ') || 'none'}`,
          path,
          site: role,
        });
      } else if (!n.active) {
        add({
          severity: 'warning',
          code: 'network-inactive',
          message: `network '${netName}' (${netRole}) at site ${site(role)} is not active`,
          hint: `virsh net-start ${netName}`,
          path,
          site: role,
        });
      }
    }
  }

  // VMs at the primary: existence, disks, NICs.
  const primary = up.primary;
  if (primary) {
    const groupIndex = new Map((opts.groupOrder ?? plan.groups.map((g) => g.name)).map((n, i) => [n, i]));
    const byVm = new Map(primary.vms.map((v) => [v.name, v]));
    const mapped = new Set(Object.values(plan.sites.primary.networks));
    for (const group of plan.groups) {
      const gi = groupIndex.get(group.name) ?? plan.groups.indexOf(group);
      for (const [vi, vm] of (group.vms as PlannedVm[]).entries()) {
        const path = `groups[${gi}].vms[${vi}]`;
        const inv = byVm.get(vm.name);
        if (!inv?.found) {
          add({
            severity: 'error',
            code: 'vm-missing',
            message: `VM '${vm.name}' does not exist at the primary site ${site('primary')}`,
            hint: 'check the name, or define the VM at the primary',
            path,
            site: 'primary',
          });
          continue;
        }
        checkDiskTargets(vm, inv.info, path, add);
        for (const nic of inv.info.nics) {
          if (nic.network !== '' && !mapped.has(nic.network)) {
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
        for (const d of inv.images) {
          if (!d.error) continue;
          add({
            severity: 'error',
            code: 'disk-unreadable',
            message: `disk ${d.target} of VM '${vm.name}' (${d.source}) cannot be read: ${d.error.message}`,
            hint: 'the image must exist and be readable at the primary',
            path,
            site: 'primary',
          });
        }
      }
    }
  }

  // Storage at both sites; space and memory at the secondary for what the primary holds.
  const needs = primary ? projectNeeds(primary, opts) : undefined;
  for (const role of ROLES) {
    const inv = up[role];
    if (!inv) continue;
    const dir = plan.sites[role].storage;
    const st = inv.storage.find((s) => s.path === dir);
    if (!st) continue;
    const path = `sites.${role}.storage`;
    if (!st.exists) {
      add({
        severity: 'error',
        code: 'storage-missing',
        message: `storage directory ${dir} does not exist at site ${site(role)}`,
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
        message: `storage directory ${dir} at site ${site(role)} is not writable`,
        hint: 'check its permissions and that it is not mounted read-only',
        path,
        site: role,
      });
    }
    if (role === 'secondary' && needs && st.freeBytes < needs.replicaBytes + needs.overlayBytes) {
      add({
        severity: 'error',
        code: 'insufficient-space',
        message: `storage ${dir} at site ${site(role)} has ${gib(st.freeBytes)} free; the replicas need up to ${gib(needs.replicaBytes)} plus ${gib(needs.overlayBytes)} for drill overlays`,
        hint: 'free space or point sites.secondary.storage at a larger volume',
        path,
        site: role,
      });
    }
  }

  const host = up.secondary?.host;
  if (needs && needs.vmCount > 0 && host && host.availableMemoryBytes < needs.memoryBytes) {
    add({
      severity: 'error',
      code: 'insufficient-memory',
      message: `site ${site('secondary')} has ${gib(host.availableMemoryBytes)} of memory available; the ${needs.vmCount} failover VMs need ${gib(needs.memoryBytes)}`,
      hint: 'free memory at the secondary, or fail over fewer groups',
      path: 'sites.secondary',
      site: 'secondary',
    });
  }
  return findings;
}

/** The live checks through drivers this process holds for both sites. */
export async function liveCheck(
  plan: Plan,
  drivers: Record<SiteRole, SiteDriver>,
  opts: LiveCheckOptions = {},
): Promise<LiveFinding[]> {
  const req = inventoryRequests(plan);
  const [primary, secondary] = await Promise.all(ROLES.map((r) => collectInventory(drivers[r], req[r])));
  return checkInventories(plan, { primary: primary!, secondary: secondary! }, opts);
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
