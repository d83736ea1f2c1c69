/**
 * The floor an RTO is measured against in the lab benches (bench/drill.ts, bench/failover.ts):
 * what a plain script does to run one VM from a committed point at the secondary, with nothing
 * of Lifeboat's orchestration around it: a qcow2 overlay on each of the point's disks and a
 * transient domain spec built the way restore/ builds it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { domainSpecFromXml } from '../drivers/libvirt/domain-xml.ts';
import type { DomainSpec } from '../drivers/types.ts';
import { hostPathOf, SITE_STORAGE_PATH } from '../lab/config.ts';
import type { Manifest } from '../replication/manifest.ts';
import type { ReplicaStore } from '../replication/store.ts';
import { restoredDomainSpec } from '../restore/spec.ts';

const pexec = promisify(execFile);

/** The secondary's replica store as the site sees it (inside its mount namespace). */
export const INNER_STORE = path.posix.join(SITE_STORAGE_PATH, 'replicas');

/**
 * Overlays for `vm`'s disks of `pointId` under `innerDir/<vm>` (paths as the site sees them) and
 * the spec of a transient domain `lb-floor-<vm>` on the bubble network that boots from them.
 */
export async function floorDomain(
  store: ReplicaStore,
  vm: string,
  pointId: string,
  innerDir: string,
): Promise<DomainSpec> {
  const m = (await store.getPoint(vm, pointId)) as Manifest;
  const inner = path.posix.join(innerDir, vm);
  mkdirSync(hostPathOf('secondary', inner), { recursive: true });
  const point = (file: string) => path.posix.join(INNER_STORE, vm, 'points', pointId, file);
  const overlays: Record<string, string> = {};
  for (const d of m.disks) {
    const overlay = path.posix.join(inner, `${d.target}.qcow2`);
    overlays[d.target] = overlay;
    await pexec('qemu-img', [
      ...['create', '-q', '-u', '-f', 'qcow2', '-F', 'qcow2', '-b', point(d.image)],
      hostPathOf('secondary', overlay),
      String(d.virtualSize),
    ]);
  }
  const bootFiles = Object.fromEntries(m.domain.bootFiles.map((b) => [b.role, point(b.path)]));
  return restoredDomainSpec(domainSpecFromXml(m.domain.xml), m, {
    name: `lb-floor-${vm}`,
    network: 'bubble',
    overlays,
    bootFiles,
    serialLog: path.posix.join(inner, 'serial.log'),
    macSeed: `floor/${vm}`,
    keepUuid: false,
  });
}
