/**
 * How a VM is rebuilt at a site from a recovery point, as pure functions: the copy's domain name,
 * its MAC addresses, and its domain spec (the manifest's definition with the point's overlays as
 * disks, the point's boot files, and every NIC on the network the operation asks for). Shared by
 * drills, failovers and failbacks; the side effects live in restore/restore.ts.
 */
import { createHash } from 'node:crypto';
import type { DomainSpec } from '../drivers/types.ts';
import type { Manifest } from '../replication/manifest.ts';

/** What an operation builds: a transient copy on the bubble (drill) or the VM itself. */
export type RestorePurpose = 'drill' | 'failover' | 'failback';

/** libvirt allows longer names, but a short one stays readable in `virsh list` and in reports. */
const MAX_NAME = 100;

/**
 * The prefix every domain a drill builds carries, so the teardown proof can look for leftovers:
 * `lb-drill-<runbook>-<n>-`.
 */
export function restorePrefix(purpose: RestorePurpose, runbook: string, operationNumber: number): string {
  return `lb-${purpose}-${runbook}-${operationNumber}-`;
}

/** The copy's domain name, e.g. `lb-drill-lab-3-db-1`; a failover keeps the VM's own name. */
export function restoredName(
  purpose: RestorePurpose,
  runbook: string,
  operationNumber: number,
  vm: string,
): string {
  if (purpose !== 'drill') return vm;
  const name = `${restorePrefix(purpose, runbook, operationNumber)}${vm}`;
  if (name.length <= MAX_NAME) return name;
  // Unique and stable: a digest of the full name replaces what does not fit.
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, MAX_NAME - 13)}-${digest}`;
}

/** The operation's number from its id `runbook/<name>/<kind>/<n>`. */
export function operationNumber(operationId: string): number {
  const n = Number.parseInt(/\/(\d+)$/.exec(operationId)?.[1] ?? '', 10);
  if (!Number.isSafeInteger(n)) throw new Error(`not an operation id: ${operationId}`);
  return n;
}

/** A locally administered MAC (QEMU's 52:54:00 prefix) unique to one copy's NIC. */
export function restoredMac(seed: string, nic: number): string {
  const h = createHash('sha256').update(`mac:${seed}:${nic}`).digest('hex');
  return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

export interface RestoredLayout {
  /** Domain name at the site. */
  name: string;
  /** The site's network every NIC joins (after the runbook's network mapping). */
  network: string;
  /** Per disk target, the overlay's path. */
  overlays: Record<string, string>;
  /** Per boot-file role (kernel, initrd, dtb), the point's file. */
  bootFiles: Record<string, string>;
  serialLog: string;
  /** Seed of the new MAC addresses (the copy must never share production's). */
  macSeed: string;
  /** Keep the manifest's UUID (failover) or let libvirt make a new one (drill). */
  keepUuid: boolean;
}

/**
 * The spec of the VM rebuilt from `manifest`: CPU, memory, kernel command line and disk order as
 * the primary had them; disks, boot files, NICs and the serial log replaced by the layout's.
 */
export function restoredDomainSpec(
  base: DomainSpec,
  manifest: Pick<Manifest, 'vm' | 'pointId' | 'disks'>,
  layout: RestoredLayout,
): DomainSpec {
  const disks = base.disks.map((d) => {
    const overlay = layout.overlays[d.target];
    if (overlay === undefined) {
      throw new Error(
        `point ${manifest.pointId} of ${manifest.vm} holds no disk ${d.target}, which its definition has`,
      );
    }
    return { target: d.target, source: overlay, format: 'qcow2' };
  });
  const spec: DomainSpec = {
    name: layout.name,
    memoryMiB: base.memoryMiB,
    vcpus: base.vcpus,
    disks,
    nics: base.nics.map((_, i) => ({ network: layout.network, mac: restoredMac(layout.macSeed, i) })),
    serialLog: layout.serialLog,
    guestAgent: base.guestAgent !== false,
    type: base.type ?? 'qemu',
  };
  if (layout.keepUuid && base.uuid !== undefined) spec.uuid = base.uuid;
  if (base.boot) {
    const kernel = layout.bootFiles.kernel;
    if (kernel === undefined) {
      throw new Error(
        `point ${manifest.pointId} of ${manifest.vm} holds no kernel, which its definition boots`,
      );
    }
    spec.boot = { kernel };
    if (base.boot.initrd !== undefined) {
      const initrd = layout.bootFiles.initrd;
      if (initrd === undefined) {
        throw new Error(
          `point ${manifest.pointId} of ${manifest.vm} holds no initrd, which its definition boots`,
        );
      }
      spec.boot.initrd = initrd;
    }
    if (base.boot.cmdline !== undefined) spec.boot.cmdline = base.boot.cmdline;
  }
  return spec;
}
