/**
 * Site activities that restore VMs from recovery points: the preflight that picks and checks the
 * point set, the isolation probe from inside a copy, and the proof that a teardown left nothing.
 * Building, starting and removing a copy are VM actions (activities/vm.ts) that call the same
 * RestoreService.
 */
import { readdir } from 'node:fs/promises';
import { domainSpecFromXml } from '../drivers/libvirt/domain-xml.ts';
import type { SiteDriver } from '../drivers/types.ts';
import { exists, sha256File } from '../replication/fsutil.ts';
import { type CapturedCommand, type Manifest, pointKind } from '../replication/manifest.ts';
import type { ReplicaStore } from '../replication/store.ts';
import type { ExpectedRecord } from '../restore/data-check.ts';
import { RestoreError } from '../restore/errors.ts';
import { choosePointSet, type PointSelector, pointCandidate } from '../restore/point-set.ts';
import { type ReplicaFileDigest, RestoreService, type RestoreTarget } from '../restore/restore.ts';
import type { RestorePurpose } from '../restore/spec.ts';
import { inputPathInside } from './input-paths.ts';

export interface RestoreSiteDeps {
  driver: SiteDriver;
  store: ReplicaStore;
  storage: string;
}

export interface RestorePreflightInput {
  operationId: string;
  purpose: RestorePurpose;
  runbook: string;
  vms: string[];
  selector: PointSelector;
  /** The site's network the copies join. */
  network: string;
  /** Hash every replica file the restore reads (the drill's before/after proof). */
  digests: boolean;
}

export interface RestoredPoint {
  vm: string;
  pointId: string;
  checkpointAt: string;
  committedAt: string;
  consistency: Manifest['consistency'];
  integrity: Manifest['integrity'];
  kind: 'full' | 'incremental';
  /** The guest was left frozen when the point was taken (every thaw failed): the primary said so. */
  guestFrozen?: string;
  /** The copy's domain name at this site. */
  domain: string;
  /** The workload records the point holds, one per data disk (empty when none were recorded). */
  records: ExpectedRecord[];
  /** The `data` commands' outputs the primary captured for the point (absent: none were asked). */
  commands?: CapturedCommand[];
}

export interface RestorePreflightResult {
  pointId: string;
  capturedAt: string;
  points: RestoredPoint[];
  /** Every domain the operation creates starts with this. */
  prefix: string;
  before: ReplicaFileDigest[];
}

export interface IsolationProbeInput {
  vm: string;
  domain: string;
  timeoutMs: number;
}

export interface IsolationProbeResult {
  vm: string;
  domain: string;
  target: string;
  method: string;
  outcome: 'isolated' | 'reachable' | 'not-run';
  detail: string;
  at: string;
}

export interface TeardownProofInput {
  operationId: string;
  purpose: RestorePurpose;
  runbook: string;
  before: ReplicaFileDigest[];
}

export interface TeardownProofResult {
  facts: Array<{ fact: string; holds: boolean; detail: string }>;
  after: ReplicaFileDigest[];
  proven: boolean;
  at: string;
}

/** Room a copy needs beside its point: overlays grow only with what the copy writes. */
const OVERLAY_MIN_BYTES = 64 * 1024 * 1024;

/**
 * What a site needs to restore VMs from points. The real one (`createRestorer`) works on the
 * site's replica store and hypervisor; orchestration tests pass one over a recording driver.
 */
export interface SiteRestorer {
  preflight(input: RestorePreflightInput): Promise<RestorePreflightResult>;
  prepare(t: RestoreTarget): Promise<{ name: string; created: boolean }>;
  start(t: RestoreTarget): Promise<{ name: string; started: boolean }>;
  teardown(t: Omit<RestoreTarget, 'pointId' | 'network'>): Promise<{ removed: boolean; detail: string }>;
  probeIsolation(input: IsolationProbeInput): Promise<IsolationProbeResult[]>;
  proveTeardown(input: TeardownProofInput): Promise<TeardownProofResult>;
}

/** Site activities over a restorer; RestoreErrors become non-retryable failures with their hint. */
export function createRestoreActivities(restorer: SiteRestorer) {
  const failures = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw err instanceof RestoreError ? err.toFailure() : err;
    }
  };
  return {
    restorePreflight: (input: RestorePreflightInput) => failures(() => restorer.preflight(input)),
    restoreIsolationProbe: (input: IsolationProbeInput) => failures(() => restorer.probeIsolation(input)),
    restoreTeardownProof: (input: TeardownProofInput) => failures(() => restorer.proveTeardown(input)),
  };
}

export function createRestorer(deps: RestoreSiteDeps): SiteRestorer {
  const svc = new RestoreService(deps.driver, deps.store, deps.storage);
  return {
    preflight: (input) => preflight(svc, deps, input),
    prepare: (t) => svc.prepare(t),
    // A drill's copy is transient; a failover's VM is defined persistently where it now runs.
    start: (t) => (t.purpose === 'drill' ? svc.startTransient(t) : svc.startPersistent(t)),
    teardown: (t) => svc.teardown(t),

    /**
     * From inside the copy, duplicate-address detection for each production address it holds:
     * an answer means something on the copy's network holds the same address — production is
     * reachable, and the copy is not isolated.
     */
    async probeIsolation(input: IsolationProbeInput): Promise<IsolationProbeResult[]> {
      const deadline = Date.now() + input.timeoutMs;
      let addresses = await deps.driver.vmAddresses(input.domain).catch(() => []);
      while (addresses.filter((a) => a.family === 'ipv4').length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        addresses = await deps.driver.vmAddresses(input.domain).catch(() => []);
      }
      const at = () => new Date().toISOString();
      const v4 = addresses.filter((a) => a.family === 'ipv4' && a.interface !== '');
      if (v4.length === 0) {
        return [
          {
            vm: input.vm,
            domain: input.domain,
            target: '(none)',
            method: 'arping -D',
            outcome: 'not-run',
            detail: 'the copy reported no IPv4 address through its guest agent',
            at: at(),
          },
        ];
      }
      const out: IsolationProbeResult[] = [];
      for (const a of v4) {
        const argv = ['arping', '-D', '-c', '2', '-w', '2', '-I', a.interface, a.address];
        const method = argv.join(' ');
        try {
          const r = await deps.driver.agentExec(input.domain, argv, { timeoutMs: 15_000 });
          const text = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-2).join('; ');
          // arping -D: 0 = nobody answered (address unique here), 1 = another host answered.
          const outcome = r.exitCode === 0 ? 'isolated' : r.exitCode === 1 ? 'reachable' : 'not-run';
          out.push({
            vm: input.vm,
            domain: input.domain,
            target: a.address,
            method,
            outcome,
            detail: `exit ${r.exitCode}: ${text}`,
            at: at(),
          });
        } catch (err) {
          const detail = err instanceof Error ? err.message : String(err);
          out.push({
            vm: input.vm,
            domain: input.domain,
            target: a.address,
            method,
            outcome: 'not-run',
            detail,
            at: at(),
          });
        }
      }
      return out;
    },

    async proveTeardown(input: TeardownProofInput): Promise<TeardownProofResult> {
      const prefix = svc.prefix(input.purpose, input.runbook, input.operationId);
      const left = (await deps.driver.listVms()).filter((v) => v.name.startsWith(prefix)).map((v) => v.name);
      const dir = svc.operationDir(input.purpose, input.runbook, input.operationId);
      const dirLeft = await exists(dir);
      const files = dirLeft ? await readdir(dir, { recursive: true }) : [];
      const after: ReplicaFileDigest[] = [];
      for (const b of input.before) {
        const path = inputPathInside(deps.store.pointDir(b.vm, b.pointId), 'replica file', b.file);
        const d = await sha256File(path).catch(() => ({ sha256: '0'.repeat(64), size: 0 }));
        after.push({ vm: b.vm, pointId: b.pointId, file: b.file, sha256: d.sha256, size: d.size });
      }
      const changed = input.before.filter(
        (b, i) => after[i]?.sha256 !== b.sha256 || after[i]?.size !== b.size,
      );
      const facts = [
        {
          fact: `no domain named ${prefix}* at site ${deps.driver.site}`,
          holds: left.length === 0,
          detail: left.length === 0 ? 'virsh list --all shows none' : `still defined: ${left.join(', ')}`,
        },
        {
          fact: `no restore directory or overlay file (${dir})`,
          holds: !dirLeft,
          detail: dirLeft ? `still there: ${files.slice(0, 10).join(', ') || '(empty directory)'}` : 'absent',
        },
        {
          fact: `replica files unchanged (${input.before.length} files, sha256 before and after)`,
          holds: changed.length === 0 && input.before.length > 0,
          detail:
            input.before.length === 0
              ? 'no digests were taken before'
              : changed.length === 0
                ? 'every digest equal'
                : `changed: ${changed.map((c) => `${c.vm}/${c.pointId}/${c.file}`).join(', ')}`,
        },
      ];
      return { facts, after, proven: facts.every((f) => f.holds), at: new Date().toISOString() };
    },
  };
}

async function preflight(
  svc: RestoreService,
  deps: RestoreSiteDeps,
  input: RestorePreflightInput,
): Promise<RestorePreflightResult> {
  const byVm = new Map<string, Manifest[]>();
  for (const vm of input.vms) {
    byVm.set(
      vm,
      (await deps.store.listPoints(vm)).filter((m) => m.runbook === input.runbook),
    );
  }
  const candidates = new Map(
    [...byVm].map(([vm, ms]) => [vm, ms.map((m) => ({ ...pointCandidate(vm, m), m }))]),
  );
  const choice = choosePointSet(input.vms, candidates, input.selector);
  if (!choice.ok)
    throw new RestoreError(
      choice.code === 'POINT_NOT_FOUND' ? 'POINT_NOT_FOUND' : 'POINT_SET_MISSING',
      choice.message,
      choice.hint,
    );

  const networks = await deps.driver.listNetworks();
  const net = networks.find((n) => n.name === input.network);
  if (!net?.active) {
    throw new RestoreError(
      'NETWORK_MISSING',
      `network ${input.network} is ${net ? 'defined but not active' : 'not defined'} at site ${deps.driver.site}`,
      net
        ? `start it: virsh net-start ${input.network}`
        : `define an isolated network named ${input.network} at the site (no <forward>), or map the runbook's network role to one that exists`,
    );
  }

  const memoryMiB = choice.points.reduce((s, p) => s + domainSpecFromXml(p.m.domain.xml).memoryMiB, 0);
  const host = await deps.driver.hostInfo();
  if (memoryMiB * 1024 * 1024 > host.availableMemoryBytes) {
    throw new RestoreError(
      'CAPACITY',
      `the copies need ${memoryMiB} MiB of memory; site ${deps.driver.site} has ${Math.floor(host.availableMemoryBytes / 1048576)} MiB available`,
      'free memory at the site or restore fewer VMs at once',
    );
  }
  const disks = choice.points.reduce((s, p) => s + p.m.disks.length, 0);
  const storage = await deps.driver.storageInfo(deps.storage);
  if (!storage.writable || storage.freeBytes < disks * OVERLAY_MIN_BYTES) {
    throw new RestoreError(
      'CAPACITY',
      `the copies' overlays need ${disks * 64} MiB at ${deps.storage} on site ${deps.driver.site}; ${storage.writable ? `${Math.floor(storage.freeBytes / 1048576)} MiB free` : 'it is not writable'}`,
      'free space in the site storage',
    );
  }

  const points: RestoredPoint[] = choice.points.map(({ m }) => ({
    vm: m.vm,
    pointId: m.pointId,
    checkpointAt: m.times.checkpointAt,
    committedAt: m.times.committedAt,
    consistency: m.consistency,
    integrity: m.integrity,
    kind: pointKind(m),
    ...(m.guestFrozen ? { guestFrozen: m.guestFrozen } : {}),
    domain: svc.domainName({
      purpose: input.purpose,
      runbook: input.runbook,
      operationId: input.operationId,
      vm: m.vm,
    }),
    records: expectedRecords(m),
    ...(m.commands === undefined ? {} : { commands: m.commands }),
  }));
  const before = [];
  if (input.digests) for (const p of points) before.push(...(await svc.replicaDigests(p.vm, p.pointId)));
  return {
    pointId: choice.pointId,
    capturedAt: choice.capturedAt,
    points,
    prefix: svc.prefix(input.purpose, input.runbook, input.operationId),
    before,
  };
}

/** The manifest's workload record of each data disk, with the disk's size (the ring's length). */
export function expectedRecords(m: Manifest): ExpectedRecord[] {
  const out: ExpectedRecord[] = [];
  for (const [target, raw] of Object.entries(m.workload ?? {})) {
    const r = raw as Partial<ExpectedRecord>;
    const disk = m.disks.find((d) => d.target === target);
    if (!disk || typeof r.seq !== 'number' || typeof r.timestampMs !== 'number') continue;
    out.push({
      target,
      seq: r.seq,
      timestampMs: r.timestampMs,
      disk: r.disk ?? 0,
      vm: r.vm ?? m.vm,
      ...(typeof r.crc === 'number' ? { crc: r.crc } : {}),
      validRecords: r.validRecords ?? 1,
      virtualSize: disk.virtualSize,
    });
  }
  return out;
}
