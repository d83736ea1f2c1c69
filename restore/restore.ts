/**
 * Builds a VM at this site from a committed recovery point, starts it, tears it down and proves
 * the teardown. The point's files are only ever read: every disk gets a copy-on-write overlay in
 * the operation's own directory (`<storage>/restores/<purpose>-<runbook>-<n>/<vm>/`), and the
 * boot files are the point's own. Every step observes first, so a retried activity acts once.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VmNotFoundError } from '../drivers/errors.ts';
import { buildDomainXml } from '../drivers/libvirt/domain-build.ts';
import { domainSpecFromXml } from '../drivers/libvirt/domain-xml.ts';
import type { DomainSpec, SiteDriver } from '../drivers/types.ts';
import { runProcess } from '../replication/exec.ts';
import { exists, sha256File } from '../replication/fsutil.ts';
import { assertSafeName, type Manifest, pointFiles } from '../replication/manifest.ts';
import type { ReplicaStore } from '../replication/store.ts';
import { RestoreError } from './errors.ts';
import {
  operationNumber,
  type RestorePurpose,
  restoredDomainSpec,
  restoredName,
  restorePrefix,
} from './spec.ts';

export interface RestoreTarget {
  operationId: string;
  purpose: RestorePurpose;
  runbook: string;
  vm: string;
  pointId: string;
  /** The site's network name every NIC joins. */
  network: string;
}

export interface ReplicaFileDigest {
  vm: string;
  pointId: string;
  file: string;
  sha256: string;
  size: number;
}

export class RestoreService {
  constructor(
    private readonly driver: SiteDriver,
    private readonly store: ReplicaStore,
    /** The site's storage root; restores live under `<storage>/restores`. */
    private readonly storage: string,
  ) {}

  /** The operation's directory: everything a restore creates lives below it. */
  operationDir(purpose: RestorePurpose, runbook: string, operationId: string): string {
    const n = operationNumber(operationId);
    return join(this.storage, 'restores', `${purpose}-${assertSafeName('runbook', runbook)}-${n}`);
  }

  vmDir(t: RestoreTarget): string {
    return join(this.operationDir(t.purpose, t.runbook, t.operationId), assertSafeName('vm', t.vm));
  }

  domainName(t: Pick<RestoreTarget, 'purpose' | 'runbook' | 'operationId' | 'vm'>): string {
    return restoredName(t.purpose, t.runbook, operationNumber(t.operationId), t.vm);
  }

  prefix(purpose: RestorePurpose, runbook: string, operationId: string): string {
    return restorePrefix(purpose, runbook, operationNumber(operationId));
  }

  async manifest(vm: string, pointId: string): Promise<Manifest> {
    const m = await this.store.getPoint(vm, pointId);
    if (m === null) {
      throw new RestoreError(
        'POINT_NOT_FOUND',
        `no committed point ${pointId} of ${vm} at site ${this.driver.site}`,
        'list the points with `lifeboat points <runbook>`',
      );
    }
    if (m.integrity.state === 'failed') {
      throw new RestoreError(
        'POINT_FAILED',
        `point ${pointId} of ${vm} failed verification (${m.integrity.detail ?? 'no detail'})`,
        'restore from another point',
      );
    }
    return m;
  }

  /** Creates the overlays (idempotent). Returns the domain name and the directory. */
  async prepare(t: RestoreTarget): Promise<{ name: string; dir: string; created: boolean }> {
    const m = await this.manifest(t.vm, t.pointId);
    const dir = this.vmDir(t);
    await mkdir(dir, { recursive: true });
    let created = false;
    for (const d of m.disks) {
      const overlay = join(dir, `${d.target}.qcow2`);
      const backing = join(this.store.pointDir(m.vm, m.pointId), d.image);
      if (await this.overlayOn(overlay, backing)) continue;
      // Created under a temporary name and renamed: a half-made overlay is never used.
      const tmp = `${overlay}.tmp`;
      await rm(tmp, { force: true });
      const r = await runProcess(
        'qemu-img',
        ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, tmp],
        {
          timeoutMs: 60_000,
        },
      );
      if (r.exitCode !== 0) {
        throw new RestoreError(
          'OVERLAY_FAILED',
          `qemu-img create of ${overlay} failed: ${r.stderr.trim()}`,
          'is the point intact? run `lifeboat verify`',
        );
      }
      await rename(tmp, overlay);
      created = true;
    }
    return { name: this.domainName(t), dir, created };
  }

  private async overlayOn(overlay: string, backing: string): Promise<boolean> {
    if (!(await exists(overlay))) return false;
    const r = await runProcess('qemu-img', ['info', '-U', '--output=json', overlay], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) return false;
    const info = JSON.parse(r.stdout) as { 'backing-filename'?: string };
    return info['backing-filename'] === backing;
  }

  /** The spec of the rebuilt VM (the overlays must exist: `prepare` first). */
  async spec(t: RestoreTarget): Promise<DomainSpec> {
    const m = await this.manifest(t.vm, t.pointId);
    const dir = this.vmDir(t);
    const pointDir = this.store.pointDir(m.vm, m.pointId);
    const overlays: Record<string, string> = {};
    for (const d of m.disks) {
      const overlay = join(dir, `${d.target}.qcow2`);
      if (!(await exists(overlay))) {
        throw new RestoreError(
          'NOT_PREPARED',
          `${t.vm} has no overlay for ${d.target} at site ${this.driver.site}`,
          'prepareVm runs first',
        );
      }
      overlays[d.target] = overlay;
    }
    const bootFiles = Object.fromEntries(m.domain.bootFiles.map((b) => [b.role, join(pointDir, b.path)]));
    return restoredDomainSpec(domainSpecFromXml(m.domain.xml), m, {
      name: this.domainName(t),
      network: t.network,
      overlays,
      bootFiles,
      serialLog: join(dir, 'serial.log'),
      macSeed: `${t.operationId}/${t.vm}`,
      keepUuid: t.purpose !== 'drill',
    });
  }

  /** Starts the rebuilt VM as a transient domain (gone once stopped). */
  async startTransient(t: RestoreTarget): Promise<{ name: string; started: boolean }> {
    const spec = await this.spec(t);
    const r = await this.driver.createTransient(spec);
    return { name: r.name, started: r.created };
  }

  /**
   * Defines the rebuilt VM persistently (a failover: the VM keeps running there, surviving a
   * site restart) and starts it. Observes first: a defined domain is not redefined, a running one
   * not restarted.
   */
  async startPersistent(t: RestoreTarget): Promise<{ name: string; started: boolean }> {
    const name = this.domainName(t);
    let state: string | undefined;
    try {
      state = (await this.driver.inspectVm(name)).state;
    } catch (err) {
      if (!(err instanceof VmNotFoundError)) throw err;
    }
    if (state === 'running') return { name, started: false };
    if (state === undefined) await this.driver.defineVm(buildDomainXml(await this.spec(t), this.driver.site));
    const r = await this.driver.startVm(name);
    return { name, started: !r.alreadyRunning };
  }

  /** Stops the copy and removes everything the restore created; `removed` says if anything was. */
  async teardown(
    t: Omit<RestoreTarget, 'pointId' | 'network'>,
  ): Promise<{ removed: boolean; detail: string }> {
    const name = this.domainName(t);
    const { destroyed } = await this.driver.destroyVm(name);
    // A persistent definition (failover) must go too; a transient one is gone once destroyed.
    const { removed: wasDefined } = await this.driver.undefineVm(name).catch(() => ({ removed: false }));
    const dir = this.vmDir({ ...t, pointId: '', network: '' });
    const had = await exists(dir);
    await rm(dir, { recursive: true, force: true });
    const opDir = this.operationDir(t.purpose, t.runbook, t.operationId);
    if ((await exists(opDir)) && (await readdir(opDir)).length === 0)
      await rm(opDir, { recursive: true, force: true });
    const parts = [
      destroyed ? 'destroyed' : 'not running',
      wasDefined ? 'undefined' : '',
      had ? 'overlays removed' : 'no overlays',
    ];
    return { removed: destroyed || wasDefined || had, detail: parts.filter(Boolean).join(', ') };
  }

  /** Every file of the point and of the points its disks are layered on: what a restore reads. */
  async chainFiles(
    vm: string,
    pointId: string,
  ): Promise<Array<{ pointId: string; file: string; path: string }>> {
    const out: Array<{ pointId: string; file: string; path: string }> = [];
    const seen = new Set<string>();
    const queue = [pointId];
    while (queue.length > 0) {
      const id = queue.shift() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const m = await this.manifest(vm, id);
      for (const f of pointFiles(m))
        out.push({ pointId: id, file: f.path, path: join(this.store.pointDir(vm, id), f.path) });
      for (const d of m.disks) if (d.parentPointId !== null) queue.push(d.parentPointId);
    }
    return out;
  }

  /** sha256 of every replica file the restore of `vm` reads. */
  async replicaDigests(vm: string, pointId: string): Promise<ReplicaFileDigest[]> {
    const out: ReplicaFileDigest[] = [];
    for (const f of await this.chainFiles(vm, pointId)) {
      const d = await sha256File(f.path);
      out.push({ vm, pointId: f.pointId, file: f.file, sha256: d.sha256, size: d.size });
    }
    return out;
  }
}
