/**
 * Replication activities. Every site worker registers all of them (roles swap after a failover);
 * the cycle workflow routes each to the site whose role it needs: the export half to the
 * primary, the pull/commit half to the secondary. Idempotent by point id (cycle id + VM).
 */

import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  type Counter,
  type Gauge,
  type Histogram,
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  type Registry,
} from 'prom-client';
import { createEmptyLayer, ensureBacking, imageInfo } from '../replication/chain.ts';
import { isReplicationError, ReplicationError } from '../replication/errors.ts';
import {
  type BaseBlocksTransfer,
  type CleanupExportInput,
  cleanupExport,
  type ExportBase,
  ExportError,
  type GuestFiles,
  type PrepareExportInput,
  type PrepareExportResult,
  prepareExport,
  servedFiles,
  servesNothing,
  type ThawOutcome,
  type VirshTarget,
} from '../replication/export/index.ts';
import { linkOrCopy } from '../replication/fsutil.ts';
import type { Integrity, Manifest } from '../replication/manifest.ts';
import { PhaseClock } from '../replication/phases.ts';
import { recordProtected } from '../replication/protected.ts';
import { applyRetention } from '../replication/retention.ts';
import { type RunbookRpoState, runbookRpoState } from '../replication/rpo-metrics.ts';
import { scrubVm } from '../replication/scrub.ts';
import type { ReplicaStore } from '../replication/store.ts';
import type { TlsMaterial } from '../replication/tls.ts';
import { pullTransfer } from '../replication/transfer/client.ts';
import { nbdHostProblem, nbdPsk, streamNbdDisks } from '../replication/transfer/nbd.ts';
import { grantToken, newTransferNonce } from '../replication/transfer/protocol.ts';
import type { ServedFileInput, TransferServer } from '../replication/transfer/server.ts';
import { verifyPoint } from '../replication/verify.ts';
import { readLastRecord } from '../workload/reader.ts';
import { inputName } from './input-paths.ts';

type Labels = 'runbook' | 'group' | 'vm';

/** Cycle figures, registered in the site worker's registry (the secondary records them). */
export interface ReplicationMetrics {
  cycleDuration: Histogram<Labels>;
  bytesShipped: Counter<Labels>;
  pointsCommitted: Counter<Labels | 'kind'>;
  failures: Counter<Labels>;
  /** Points retention merged away (the secondary). */
  pointsRemoved?: Counter<'runbook' | 'vm'>;
  /** 1 while a guest whose thaw failed after fsfreeze may still be frozen (alert on it). */
  guestFrozen?: Gauge<'domain'>;
}

export function createReplicationMetrics(): ReplicationMetrics & { register(r: Registry): void } {
  const m: ReplicationMetrics = {
    cycleDuration: new PromHistogram({
      name: 'lifeboat_replication_cycle_duration_seconds',
      help: 'From checkpoint to committed point, per VM',
      labelNames: ['runbook', 'group', 'vm'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 900, 3600],
      registers: [],
    }),
    bytesShipped: new PromCounter({
      name: 'lifeboat_replication_bytes_shipped_total',
      help: 'Bytes of committed points pulled over the inter-site link',
      labelNames: ['runbook', 'group', 'vm'],
      registers: [],
    }),
    pointsCommitted: new PromCounter({
      name: 'lifeboat_replication_points_committed_total',
      help: 'Recovery points committed at this site',
      labelNames: ['runbook', 'group', 'vm', 'kind'],
      registers: [],
    }),
    failures: new PromCounter({
      name: 'lifeboat_replication_failures_total',
      help: 'Cycles of a VM that ended without a point',
      labelNames: ['runbook', 'group', 'vm'],
      registers: [],
    }),
    pointsRemoved: new PromCounter({
      name: 'lifeboat_retention_points_removed_total',
      help: 'Points retention merged into their children and removed at this site',
      labelNames: ['runbook', 'vm'],
      registers: [],
    }),
    guestFrozen: new PromGauge({
      name: 'lifeboat_guest_frozen',
      help: '1 while a guest may still be frozen: every thaw after its fsfreeze failed',
      labelNames: ['domain'],
      registers: [],
    }),
  };
  return {
    ...m,
    register(r) {
      for (const metric of Object.values(m)) if (metric !== undefined) r.registerMetric(metric);
    },
  };
}

export interface ReplicationSiteDeps {
  virsh: VirshTarget;
  storage: string;
  /** This site's transfer server (serves exports when it is the primary). */
  server: TransferServer;
  /** This site's certificate and the pinned CA (pulls when it is the secondary). */
  tls: TlsMaterial;
  /** The transfer key both sites hold: tokens are derived from it, never carried in payloads. */
  transferKey: Buffer;
  store: ReplicaStore;
  metrics?: ReplicationMetrics;
  /** Disks up to this size are scanned for the workload's last record at commit. */
  workloadScanMaxBytes?: number;
  /** The guests' agents (the site driver), for the `data` commands an export runs. */
  guest?: GuestFiles;
  /** Idle timeout of a pull (a cut link is noticed within it). */
  pullIdleTimeoutMs?: number;
}

export interface ReplicationBaseResult {
  base: ExportBase | null;
  /** Where this site serves the base point's block digests: what a resync compares against. */
  baseBlocks?: BaseBlocksTransfer;
  baseUnusable?: string;
  keepCheckpoints: string[];
  committedPoints: number;
}

export interface PullCommitInput {
  runbook: string;
  group: string;
  vm: string;
  pointId: string;
  export: PrepareExportResult;
  transferStartedAt: string;
}

export interface PullCommitResult {
  pointId: string;
  kind: 'full' | 'incremental';
  alreadyCommitted: boolean;
  bytesShipped: number;
  bytesReceived: number;
  resumes: number;
  /** Streamed copies (NBD) started over from the beginning after a failure or a stall. */
  restarts?: number;
  workload?: Record<string, unknown>;
  /** Milliseconds per step of this attempt (pull, rebase, workload, and the commit's). */
  phasesMs?: Record<string, number>;
}

/** A data-plane error value as a Temporal failure with its code, context and hint; others as they are. */
export function replicationFailure(e: unknown): never {
  if (e instanceof ExportError || isReplicationError(e)) {
    throw ApplicationFailure.create({
      type: e.code,
      message: e.message,
      nonRetryable: !e.retryable && e.code !== 'VIRSH_FAILED',
      details: [{ context: e.context, hint: e.hint }],
    });
  }
  throw e;
}

/** Our error values become Temporal failures with their code, context and hint. */
async function asFailure<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    replicationFailure(e);
  }
}

function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

function heartbeater(): () => void {
  const ctx = activityContext();
  return ctx === null ? () => {} : () => ctx.heartbeat();
}

/** What a pull reports in its heartbeats: the bytes it has received so far. */
export interface PullHeartbeat {
  phase: 'pull' | 'commit';
  bytesReceived: number;
  file?: string;
}

/**
 * Heartbeats on a timer while `fn` runs, with `details()` as progress: a live worker waiting
 * out a cut link must not look dead (a second attempt would then pull into the same staging
 * directory beside the first), and a cancellation arrives with a heartbeat's answer.
 */
export const HEARTBEAT_EVERY_MS = 3_000;
async function beating<T>(
  fn: () => Promise<T>,
  details?: () => unknown,
  everyMs = HEARTBEAT_EVERY_MS,
): Promise<T> {
  const ctx = activityContext();
  const beat = ctx === null ? () => {} : () => ctx.heartbeat(details?.());
  beat();
  const timer = setInterval(beat, everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/**
 * Every name the pull joins into its staging directory or the store is one safe component, so
 * no input can make the secondary write, rebase or link a file outside its replica store.
 */
function checkPullInput(input: PullCommitInput): void {
  inputName('vm', input.vm);
  inputName('point id', input.pointId);
  inputName('transfer id', input.export.transferId);
  for (const d of input.export.disks) {
    inputName('disk file', d.file);
    inputName('disk target', d.target);
    if (d.parentPointId !== null) inputName('parent point id', d.parentPointId);
  }
  const nbd = input.export.nbd;
  if (input.export.disks.some((d) => d.nbd === true)) {
    const problem =
      nbd === undefined
        ? 'disks are served over NBD but no NBD address is given'
        : (nbdHostProblem(nbd.host) ??
          (Number.isInteger(nbd.port) && nbd.port > 0 && nbd.port < 65536 ? null : `NBD port ${nbd.port}`));
    const sizeless = input.export.disks.find(
      (d) => d.nbd === true && !(Number.isSafeInteger(d.virtualSize) && d.virtualSize! > 0),
    );
    const why =
      problem ?? (sizeless === undefined ? null : `disk ${sizeless.target} served over NBD has no size`);
    if (why !== null)
      throw ApplicationFailure.create({ type: 'BAD_INPUT', message: why, nonRetryable: true });
  }
  for (const b of input.export.bootFiles ?? []) {
    inputName('boot file', b.file);
    if (b.fromPointId !== undefined) inputName('boot file point id', b.fromPointId);
  }
}

/** Disks larger than this are not scanned for workload records (the scan reads the whole disk). */
export const WORKLOAD_SCAN_MAX_BYTES = 256 * 1024 * 1024;

/** The workload's last record on each disk of a staged point (disks without records left out). */
async function workloadOf(
  images: { target: string; path: string; virtualSize?: number }[],
  maxBytes: number,
): Promise<Record<string, unknown> | undefined> {
  const out: Record<string, unknown> = {};
  for (const i of images) {
    if ((i.virtualSize ?? (await imageInfo(i.path)).virtualSize) > maxBytes) continue;
    const scan = await readLastRecord(i.path);
    if (scan.last !== undefined) out[i.target] = { ...scan.last, validRecords: scan.validRecords };
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function baseBlocksTransferId(vm: string, pointId: string): string {
  return `${vm}.${pointId}.blocks`;
}

/** Registers the point's block-digest files with this site's transfer server (also reprotect's). */
export async function serveBaseBlocks(deps: ReplicationSiteDeps, m: Manifest): Promise<BaseBlocksTransfer> {
  const dir = deps.store.pointDir(m.vm, m.pointId);
  const disks: BaseBlocksTransfer['disks'] = {};
  const files: ServedFileInput[] = [];
  for (const d of m.disks) {
    const name = d.contentDigest.blocksFile;
    const recorded = d.files.find((f) => f.path === name);
    files.push({
      name,
      path: join(dir, name),
      ...(recorded === undefined ? {} : { digest: { sha256: recorded.sha256, size: recorded.size } }),
    });
    disks[d.target] = { file: name, blockSize: d.contentDigest.blockSize };
  }
  const transferId = baseBlocksTransferId(m.vm, m.pointId);
  const nonce = newTransferNonce();
  await deps.server.register({ transferId, nonce, files });
  return { baseUrl: deps.server.url, transferId, site: deps.server.site, nonce, disks };
}

export function createReplicationActivities(deps: ReplicationSiteDeps) {
  const exportDeps = () => {
    const ctx = activityContext();
    return {
      virsh: deps.virsh,
      storage: deps.storage,
      server: deps.server,
      tls: deps.tls.files,
      ...(deps.guest === undefined ? {} : { guest: deps.guest }),
      transferKey: deps.transferKey,
      heartbeat: heartbeater(),
      ...(ctx === null ? {} : { signal: ctx.cancellationSignal }),
      // A guest left frozen is never silent: the gauge alerts, the log says it, the export records it.
      onThaw: (domain: string, o: ThawOutcome) => {
        deps.metrics?.guestFrozen?.set({ domain }, o.thawed ? 0 : 1);
        if (!o.thawed)
          ctx?.log.error('guest may still be frozen after fsfreeze', { domain, detail: o.detail });
      },
    };
  };
  return {
    /** Secondary: the newest committed point (the only base an incremental may use). */
    async replicationBase(input: { vm: string }): Promise<ReplicationBaseResult> {
      return asFailure(async () => {
        const { points } = await deps.store.scanPoints(input.vm);
        const newest = points[points.length - 1] ?? null;
        // At most one block-digest registration per VM: the newest point's, with a new token.
        for (const p of points) {
          if (p !== newest) await deps.server.unregister(baseBlocksTransferId(input.vm, p.pointId));
        }
        const baseBlocks = newest === null ? undefined : await serveBaseBlocks(deps, newest);
        return {
          ...(baseBlocks === undefined ? {} : { baseBlocks }),
          base:
            newest === null
              ? null
              : {
                  pointId: newest.pointId,
                  checkpoint: newest.sourceCheckpoint,
                  targets: newest.disks.map((d) => d.target),
                  bootFiles: newest.domain.bootFiles,
                },
          ...(newest?.integrity.state === 'failed'
            ? {
                baseUnusable: `chain cannot continue: newest point ${newest.pointId} failed verification (${newest.integrity.detail ?? ''})`,
              }
            : {}),
          keepCheckpoints: [...new Set(points.map((p) => p.sourceCheckpoint))],
          committedPoints: points.length,
        };
      });
    },

    /** Primary: checkpoint + backup + registration with the transfer server. */
    async replicationPrepareExport(input: PrepareExportInput): Promise<PrepareExportResult> {
      return asFailure(() => beating(() => prepareExport(input, exportDeps())));
    },

    /** Secondary: pull over the inter-site link, then commit atomically. */
    async replicationPullCommit(input: PullCommitInput): Promise<PullCommitResult> {
      const progress: PullHeartbeat = { phase: 'pull', bytesReceived: 0 };
      const cancel = activityContext()?.cancellationSignal;
      return asFailure(() =>
        beating(
          async () => {
            const { vm, pointId } = input;
            const ex = input.export;
            checkPullInput(input);
            const labels = { runbook: input.runbook, group: input.group, vm };
            const staged = await deps.store.stage(vm, pointId);
            if (staged.committed) {
              const m = (await deps.store.getPoint(vm, pointId))!;
              return {
                pointId,
                kind: ex.kind,
                alreadyCommitted: true,
                bytesShipped: m.bytesShipped,
                bytesReceived: 0,
                resumes: 0,
                ...(m.workload === undefined ? {} : { workload: m.workload }),
              };
            }
            const clock = new PhaseClock();
            // An idle cycle (every disk unchanged, every boot file held by the base) ships nothing.
            const nothingToFetch = servesNothing(ex);
            // Files served over HTTPS (the boot files beside a streamed disk) come while the disks
            // stream; the pull ends with the activity's cancellation or the stream's failure.
            const stop = new AbortController();
            const onCancel = () => stop.abort(cancel?.reason);
            if (cancel?.aborted) onCancel();
            cancel?.addEventListener('abort', onCancel, { once: true });
            const pulling = nothingToFetch
              ? Promise.resolve({ files: [], bytesReceived: 0, resumes: 0 })
              : clock.time('pull', () =>
                  pullTransfer({
                    baseUrl: ex.baseUrl,
                    transferId: ex.transferId,
                    token: grantToken(deps.transferKey, ex),
                    tls: deps.tls.files,
                    destDir: staged.dir,
                    files: servedFiles(ex),
                    idleTimeoutMs: deps.pullIdleTimeoutMs ?? 10_000,
                    maxAttemptsWithoutProgress: 1000,
                    backoff: { initialMs: 500, maxMs: 5_000 },
                    onProgress: (p) => {
                      progress.bytesReceived = p.bytesReceived;
                      progress.file = p.file;
                    },
                    signal: stop.signal,
                  }),
                );
            pulling.catch(() => undefined); // awaited below, after the stream
            // Disks served over NBD stream straight into their staged images; if that fails, the
            // HTTPS pull beside it is stopped and awaited, so no writer outlives this attempt.
            let streamed = { bytes: 0, restarts: 0 };
            if (ex.nbd !== undefined && ex.disks.some((d) => d.nbd === true)) {
              try {
                streamed = await clock.time('stream', () =>
                  streamNbdDisks({
                    address: ex.nbd!,
                    psk: nbdPsk(deps.transferKey, {
                      site: ex.site,
                      transferId: ex.transferId,
                      nonce: ex.nonce,
                    }),
                    disks: ex.disks.filter((d) => d.nbd === true),
                    dir: staged.dir,
                    idleTimeoutMs: deps.pullIdleTimeoutMs ?? 10_000,
                    onProgress: (p) => Object.assign(progress, p),
                    signal: stop.signal,
                  }),
                );
              } catch (e) {
                stop.abort(e);
                await pulling.catch(() => undefined);
                throw e;
              }
            }
            const pulled = await pulling.finally(() => cancel?.removeEventListener('abort', onCancel));
            progress.phase = 'commit';
            const transferEndedAt = new Date().toISOString();
            // Each staged layer must name its parent point's image. The primary writes that name
            // into the layers it stages; one that names anything else is rebased here. A file this
            // pull received and nothing rewrote keeps the digest it arrived with, so the commit
            // need not read it again.
            const asShipped = new Map<string, { sha256: string; size: number }>();
            /** Workload records of disks that did not change: the parent's, read again for nothing. */
            const inherited: Record<string, unknown> = {};
            /** Sizes the parent point knows (no qemu-img info for the workload scan's size check). */
            const sizes = new Map<string, number>();
            /** Disks whose backing this attempt has just checked: the commit need not again. */
            const backingChecked = new Set<string>();
            /** Empty layers over the parents of unchanged disks: made at once (a qemu-img each). */
            const emptyLayers: Array<() => Promise<unknown>> = [];
            for (const d of ex.disks) {
              const parent = d.parentPointId === null ? null : await deps.store.getPoint(vm, d.parentPointId);
              const parentDisk = parent?.disks.find((x) => x.target === d.target);
              if (d.unchanged === true) {
                if (d.parentPointId === null || parentDisk === undefined) {
                  throw new ReplicationError({
                    code: 'PARENT_NOT_COMMITTED',
                    message: `disk ${d.target} of point ${pointId} is unchanged since ${d.parentPointId ?? 'no point'}, which holds no committed ${d.target}`,
                    context: { vm, pointId, parentPointId: d.parentPointId },
                    hint: 'the cycle will ship a full copy once the primary sees no base',
                  });
                }
                const backing = `../${d.parentPointId}/${parentDisk.image}`;
                emptyLayers.push(() =>
                  createEmptyLayer(`${staged.dir}/${d.file}`, backing, parentDisk.virtualSize),
                );
                const w = parent?.workload?.[d.target];
                if (w !== undefined) inherited[d.target] = w;
                continue;
              }
              const parentImage = parentDisk?.image;
              if (parentDisk !== undefined) sizes.set(d.target, parentDisk.virtualSize);
              let rebased = { changed: true };
              if (d.parentPointId !== null && parentImage !== undefined) {
                const backing = `../${d.parentPointId}/${parentImage}`;
                rebased = await clock.time('rebase', () => ensureBacking(`${staged.dir}/${d.file}`, backing));
              } else if (d.parentPointId === null) {
                rebased = await clock.time('rebase', () => ensureBacking(`${staged.dir}/${d.file}`, null));
              }
              if (d.parentPointId === null || parentImage !== undefined) backingChecked.add(d.target);
              const got = pulled.files.find((f) => f.name === d.file);
              if (!rebased.changed && got !== undefined && !got.alreadyPresent) {
                asShipped.set(d.target, { sha256: got.sha256, size: got.size });
              }
            }
            if (emptyLayers.length > 0)
              await clock.time('emptyLayer', () => Promise.all(emptyLayers.map((make) => make())));
            // Boot files the base point holds with the same bytes are linked, not shipped.
            for (const b of ex.bootFiles ?? []) {
              if (b.fromPointId !== undefined)
                await linkOrCopy(
                  `${deps.store.pointDir(vm, b.fromPointId)}/${b.file}`,
                  `${staged.dir}/${b.file}`,
                );
            }
            const scanned = await clock.time('workload', () =>
              workloadOf(
                ex.disks
                  .filter((d) => d.unchanged !== true)
                  .map((d) => ({
                    target: d.target,
                    path: `${staged.dir}/${d.file}`,
                    ...(sizes.has(d.target) ? { virtualSize: sizes.get(d.target)! } : {}),
                  })),
                deps.workloadScanMaxBytes ?? WORKLOAD_SCAN_MAX_BYTES,
              ),
            );
            const workload =
              Object.keys(inherited).length === 0 ? scanned : { ...inherited, ...(scanned ?? {}) };
            const { manifest, alreadyCommitted } = await deps.store.commit(
              {
                vm,
                pointId,
                runbook: input.runbook,
                domainXml: ex.domainXml,
                disks: ex.disks.map((d) => ({
                  target: d.target,
                  image: d.file,
                  parentPointId: d.parentPointId,
                  ...(d.fullReason === undefined ? {} : { fullReason: d.fullReason }),
                  ...(d.contentRoot === undefined ? {} : { expectedContentRoot: d.contentRoot }),
                  ...(asShipped.has(d.target) ? { shipped: asShipped.get(d.target)! } : {}),
                  ...(d.unchanged === true ? { unchanged: true } : {}),
                  ...(backingChecked.has(d.target) ? { backingChecked: true } : {}),
                })),
                bootFiles: (ex.bootFiles ?? []).map((b) => ({
                  role: b.role,
                  path: b.file,
                  sha256: b.sha256,
                  ...(b.fromPointId === undefined ? {} : { linkedFrom: b.fromPointId }),
                })),
                consistency: ex.consistency,
                sourceCheckpoint: ex.checkpoint,
                times: {
                  checkpointAt: ex.checkpointAt,
                  transferStartedAt: input.transferStartedAt,
                  transferEndedAt,
                },
                ...(workload === undefined ? {} : { workload }),
                ...(ex.commands === undefined ? {} : { commands: ex.commands }),
                ...(ex.guestFrozen === undefined ? {} : { guestFrozen: ex.guestFrozen }),
                bytesShipped: ex.exportBytes,
              },
              clock,
            );
            if (!alreadyCommitted && deps.metrics) {
              deps.metrics.bytesShipped.inc(labels, pulled.bytesReceived + streamed.bytes);
              deps.metrics.pointsCommitted.inc({ ...labels, kind: ex.kind });
              deps.metrics.cycleDuration.observe(labels, (Date.now() - Date.parse(ex.checkpointAt)) / 1000);
            }
            return {
              pointId,
              kind: ex.kind,
              alreadyCommitted,
              bytesShipped: manifest.bytesShipped,
              bytesReceived: pulled.bytesReceived + streamed.bytes,
              resumes: pulled.resumes,
              ...(streamed.restarts > 0 ? { restarts: streamed.restarts } : {}),
              ...(manifest.workload === undefined ? {} : { workload: manifest.workload }),
              phasesMs: clock.record(),
            };
          },
          () => ({ ...progress }),
        ),
      );
    },

    /** Secondary: drop a point's staging (the cycle failed); counts the failure. */
    async replicationAbort(input: {
      runbook: string;
      group: string;
      vm: string;
      pointId: string;
    }): Promise<{ removed: boolean }> {
      return asFailure(async () => {
        const r = await deps.store.abort(input.vm, input.pointId);
        deps.metrics?.failures.inc({ runbook: input.runbook, group: input.group, vm: input.vm });
        return r;
      });
    },

    /** Primary: unregister the transfer, remove the export, delete unreferenced checkpoints. */
    async replicationCleanup(input: CleanupExportInput) {
      return asFailure(() => cleanupExport(input, exportDeps()));
    },

    /** Secondary: the whole-point check (files against the manifest; `deep`: content digests). */
    async replicationVerify(input: { vm: string; pointId: string; deep?: boolean }): Promise<{
      integrity: Integrity;
      problems: string[];
    }> {
      return asFailure(async () => {
        const r = await verifyPoint(deps.store, input.vm, input.pointId, { deep: input.deep ?? false });
        return { integrity: r.manifest.integrity, problems: r.problems };
      });
    },

    /**
     * Secondary: keep the runbook's newest `keep` points of the VM (held points and their chains
     * deferred, and said so), finishing first any removal a crash interrupted. Idempotent.
     */
    async replicationRetention(input: RetentionInput): Promise<RetentionSummary> {
      inputName('vm', input.vm);
      return asFailure(() =>
        beating(async () => {
          const r = await applyRetention(deps.store, input.vm, input.keep, input.held);
          if (r.merged.length > 0)
            deps.metrics?.pointsRemoved?.inc({ runbook: input.runbook, vm: input.vm }, r.merged.length);
          return {
            vm: input.vm,
            removed: r.merged.map((m) => m.pointId),
            deferred: r.deferred,
            ...(r.finished ? { finished: r.finished } : {}),
          };
        }),
      );
    },

    /** Secondary: records the runbook's VMs and objective here, for the RPO of VMs with no point yet. */
    async replicationProtected(input: {
      runbook: string;
      vms: string[];
      objectiveMs: number;
    }): Promise<{ vms: Record<string, string> }> {
      return asFailure(async () => ({ vms: (await recordProtected(deps.store.root, input)).vms }));
    },

    /** Secondary: the runbook's VMs' RPO here at this moment, and those over the objective. */
    async replicationRpoState(input: {
      runbook: string;
      vms: string[];
      objectiveMs: number;
    }): Promise<RunbookRpoState> {
      for (const vm of input.vms) inputName('vm', vm);
      return asFailure(() => runbookRpoState(deps.store, input, Date.now()));
    },

    /** Secondary: the whole-chain scrub of every point of the VM; what it found failed. */
    async replicationScrub(input: { runbook: string; vm: string }): Promise<ScrubSummary> {
      inputName('vm', input.vm);
      return asFailure(() =>
        beating(async () => {
          const results = await scrubVm(deps.store, input.vm);
          return {
            vm: input.vm,
            points: results.length,
            failed: results
              .filter((r) => r.state === 'failed')
              .map((r) => ({
                pointId: r.pointId,
                findings: r.findings.slice(0, 4).map((f) => ({
                  pointId: f.pointId,
                  problem: f.problem,
                  ...(f.disk ? { disk: f.disk } : {}),
                  ...(f.blocks ? { blocks: f.blocks.slice(0, 8) } : {}),
                })),
              })),
          };
        }),
      );
    },
  };
}

export interface RetentionInput {
  runbook: string;
  vm: string;
  keep: number;
  /** Operation id -> the point ids it holds (the controller's heldPoints). */
  held: Record<string, string[]>;
}

export interface RetentionSummary {
  vm: string;
  removed: string[];
  deferred: Array<{ pointId: string; heldBy: string[]; why: string }>;
  finished?: string[];
}

export interface ScrubSummary {
  vm: string;
  points: number;
  failed: Array<{
    pointId: string;
    findings: Array<{ pointId: string; problem: string; disk?: string; blocks?: number[] }>;
  }>;
}

export type ReplicationActivities = ReturnType<typeof createReplicationActivities>;

/** Every replication activity's name (the compiler keeps the list whole). */
export const REPLICATION_ACTIVITY_NAMES = Object.keys({
  replicationBase: true,
  replicationPrepareExport: true,
  replicationPullCommit: true,
  replicationAbort: true,
  replicationCleanup: true,
  replicationVerify: true,
  replicationRetention: true,
  replicationScrub: true,
  replicationProtected: true,
  replicationRpoState: true,
} satisfies Record<keyof ReplicationActivities, true>) as Array<keyof ReplicationActivities>;
