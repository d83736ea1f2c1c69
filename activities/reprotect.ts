/**
 * Site activities of reprotect: make the old primary's disks equal to the active site's by
 * shipping only what differs since the common point (the point the failover built from).
 *
 * - `reprotectSource` (active site): each disk's overlay and the point it sits on.
 * - `reprotectDivergence` (old primary): what the old primary wrote after that point (its
 *   bitmaps since the point's checkpoint; when they are gone, or the disk is raw, its block
 *   digests against the point's, which `reprotectPointDigests` serves from the active site),
 *   saved into a side file per disk before anything overwrites it.
 * - `reprotectExport` (active site): a point-in-time copy of the running disks; the overlay's
 *   own clusters united with the old primary's divergent ranges are copied into a delta and
 *   served over the transfer server.
 * - `reprotectApply` (old primary): pulls the delta (TLS, derived token, resumable) and writes it
 *   into the stopped VM's disks.
 *
 * Every step keeps its result in `<storage>/reprotect/<vm>/<operation>/` and returns it again
 * when retried, so a worker killed at any moment resumes without shipping or saving twice.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { SiteDriver, VmInfo } from '../drivers/types.ts';
import { decodeBlockDigests } from '../replication/block-digests.ts';
import { type Extent, imageInfo } from '../replication/chain.ts';
import { digestImage } from '../replication/content-digest.ts';
import { runProcess } from '../replication/exec.ts';
import { diskBitmaps } from '../replication/export/offline.ts';
import { deleteCheckpoint, listCheckpoints } from '../replication/export/online.ts';
import type { BaseBlocksTransfer } from '../replication/export/prepare.ts';
import { exists, writeFileAtomic } from '../replication/fsutil.ts';
import {
  REVERSE_CHECKPOINT_PREFIX,
  reverseRecordPath,
  takeReverseChanges,
  writeReverseRecord,
} from '../replication/reverse/cycle.ts';
import {
  type DeltaDisk,
  readDeltaIndex,
  writeDeltaDisk,
  writeDeltaIndex,
} from '../replication/reverse/delta.ts';
import {
  type DiscardRecord,
  type DivergentEntry,
  discardDivergent,
  discardLog,
  listDivergent,
} from '../replication/reverse/divergent.ts';
import {
  alignExtents,
  DELTA_GRANULARITY,
  divergenceByDigests,
  totalLength,
  unionExtents,
} from '../replication/reverse/extents.ts';
import {
  beginReversePoint,
  commitPendingPoint,
  type ReversePointResult,
} from '../replication/reverse/points.ts';
import { dirtySince, writeRanges } from '../replication/reverse/ranges.ts';
import { pullTransfer } from '../replication/transfer/client.ts';
import { grantToken, newTransferNonce } from '../replication/transfer/protocol.ts';
import { inputName } from './input-paths.ts';
import { type ReplicationSiteDeps, replicationFailure, serveBaseBlocks } from './replication.ts';

export interface ReprotectSourceDisk {
  target: string;
  /** The active VM's top image (the failover overlay). */
  image: string;
  virtualSize: number;
}

export interface ReprotectSourceResult {
  vm: string;
  running: boolean;
  disks: ReprotectSourceDisk[];
  /** The committed point every overlay sits on, and its checkpoint at the old primary. */
  pointId: string | null;
  checkpoint: string | null;
  /** Why there is no common point (a full copy follows). */
  noCommonPoint?: string;
}

export interface DivergentDisk {
  target: string;
  /** Ranges the old primary wrote after the common point (empty: none). */
  extents: Extent[];
  bytes: number;
  /** Set when the writes cannot be known (no bitmap, no digests): the whole disk is shipped. */
  unknown?: string;
  /**
   * How they were found: its bitmaps since the point, or (the bitmaps gone, or a raw disk) its
   * block digests against the point's, which also counts an earlier reprotect's writes.
   */
  method?: 'bitmap' | 'digests';
}

export interface DivergenceResult {
  vm: string;
  disks: DivergentDisk[];
  /**
   * Some disk has no usable bitmap but there is a common point: ask again with the point's block
   * digests (nothing was saved or recorded by this call).
   */
  needsDigests?: boolean;
  /** Where the divergent blocks were saved (absent when there were none). */
  sideDir?: string;
  sideBytes: number;
  /** The reprotect this site applied last from the same point (a reverse cycle counts from it). */
  lastReprotect?: string;
}

export interface ReprotectExportInput {
  operationId: string;
  vm: string;
  pointId: string | null;
  /** Per disk: the old primary's divergent ranges, shipped too (overwritten with ours). */
  divergent: DivergentDisk[];
  /** Why every disk goes whole, when it does. */
  fullReason?: string;
  /** The old primary's last applied reprotect from the same point (DivergenceResult). */
  lastReprotect?: string;
}

export interface ReprotectTransfer {
  baseUrl: string;
  site: string;
  transferId: string;
  nonce: string;
}

export interface ReprotectExportResult {
  vm: string;
  transfer: ReprotectTransfer;
  disks: Array<{ target: string; extents: number; bytes: number; overlayBytes: number; fullReason?: string }>;
  /** Bytes of the union: what the delta's data files hold. */
  deltaBytes: number;
  /** How the point in time was taken. */
  snapshot: 'backup' | 'stopped';
  /** The reverse checkpoint the delta counts from (only what was written since it was shipped). */
  since?: string;
  /** Why the delta holds everything the overlays hold since the failover (no usable checkpoint). */
  sinceFailover?: string;
  /** The checkpoint this cycle took (a running VM): the next one counts from it once applied. */
  checkpoint?: string;
  /** The overlays read, per disk target, and the common point they sit on. */
  images?: Record<string, string>;
  pointId?: string | null;
}

export type { ReversePointResult };

export interface ReprotectApplyInput {
  operationId: string;
  vm: string;
  transfer: ReprotectTransfer;
  /**
   * Keep the applied cycle as a reverse point, and this many of them (the runbook's retention);
   * absent (older workflows): the disks are written and no point is kept.
   */
  keepPoints?: number;
}

export interface ReprotectApplyResult {
  vm: string;
  /** Body bytes this site received over the link (every attempt of this operation). */
  bytesReceived: number;
  resumes: number;
  bytesWritten: number;
  alreadyApplied: boolean;
  point?: ReversePointResult;
}

/** The old primary's record of the last reprotect applied to a VM's disks. */
interface ReprotectedMark {
  operationId: string;
  pointId: string | null;
  /** Added to every qcow2 disk right after that reprotect's writes. */
  bitmap: string;
}

async function bitmapCommand(args: string[]): Promise<void> {
  const res = await runProcess('qemu-img', ['bitmap', ...args], { timeoutMs: 60_000 });
  if (res.exitCode !== 0) {
    throw ApplicationFailure.create({
      type: 'BITMAP_FAILED',
      message: `qemu-img bitmap ${args.join(' ')} failed: ${res.stderr.trim()}`,
    });
  }
}
const addBitmap = (image: string, name: string) => bitmapCommand(['--add', '--enable', image, name]);
const removeBitmap = (image: string, name: string) => bitmapCommand(['--remove', image, name]);

/** One safe path component for an operation id (`runbook/<name>/reprotect/<n>`). */
export function operationKey(operationId: string): string {
  return inputName('operation', operationId.replace(/[^A-Za-z0-9._-]/g, '_'));
}

function beat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // outside an activity (tests)
  }
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(beat, 3_000);
  beat();
  try {
    return await fn();
  } catch (e) {
    return replicationFailure(e);
  } finally {
    clearInterval(timer);
  }
}

function dataDisks(info: VmInfo) {
  return info.disks.filter((d) => d.device !== 'cdrom');
}

async function readJson<T>(path: string): Promise<T | null> {
  return (await exists(path)) ? (JSON.parse(await readFile(path, 'utf8')) as T) : null;
}

/** Pulls the common point's block digests (served by the active site) into `dest`. */
async function pullPointBlocks(
  served: BaseBlocksTransfer,
  dest: string,
  deps: Pick<ReplicationSiteDeps, 'transferKey' | 'tls'>,
): Promise<Map<string, { blocks: Buffer[]; blockSize: number }>> {
  await mkdir(dest, { recursive: true });
  await pullTransfer({
    baseUrl: served.baseUrl,
    transferId: served.transferId,
    token: grantToken(deps.transferKey, served),
    tls: deps.tls.files,
    destDir: dest,
    idleTimeoutMs: 10_000,
    onProgress: beat,
  });
  const out = new Map<string, { blocks: Buffer[]; blockSize: number }>();
  for (const [target, d] of Object.entries(served.disks)) {
    const file = join(dest, inputName('block digest file', d.file));
    out.set(target, { blocks: decodeBlockDigests(await readFile(file)), blockSize: d.blockSize });
  }
  return out;
}

export function createReprotectActivities(deps: { driver: SiteDriver; replication: ReplicationSiteDeps }) {
  const { driver } = deps;
  const r = deps.replication;
  const workDir = (vm: string, operationId: string) =>
    join(r.storage, 'reprotect', inputName('vm', vm), operationKey(operationId));

  async function stoppedVm(vm: string): Promise<VmInfo> {
    const info = await driver.inspectVm(vm);
    if (info.state !== 'shut off') {
      throw ApplicationFailure.create({
        type: 'VM_RUNNING_AT_TARGET',
        message: `${vm} is ${info.state} at site ${driver.site}: reprotect writes its disks and needs it stopped`,
        nonRetryable: true,
        details: [
          { hint: 'a reprotect target is the old primary after a committed failover; stop the VM there' },
        ],
      });
    }
    return info;
  }

  /**
   * After the old primary applied a delta: the checkpoint the next reverse cycle counts from
   * (this cycle's, or the one it counted from when it took none), and the older reverse
   * checkpoints deleted (their bitmaps merge into the next one's; libvirt does it only while the
   * VM runs, so a stopped VM keeps them until a later running cycle).
   */
  async function recordReverseBase(operationId: string, vm: string): Promise<void> {
    const ex = await readJson<Omit<ReprotectExportResult, 'transfer'>>(
      join(workDir(vm, operationId), 'export.json'),
    );
    const base = ex?.checkpoint ?? ex?.since;
    if (ex === null || base === undefined || ex.images === undefined) {
      await rm(reverseRecordPath(r.storage, vm), { force: true });
      return;
    }
    await writeReverseRecord(r.storage, vm, {
      version: 1,
      operationId,
      pointId: ex.pointId ?? null,
      images: ex.images,
      checkpoint: base,
      at: new Date().toISOString(),
    });
    if ((await driver.inspectVm(vm)).state === 'shut off') return;
    for (const cp of await listCheckpoints(r.virsh, vm))
      if (cp.startsWith(REVERSE_CHECKPOINT_PREFIX) && cp !== base) await deleteCheckpoint(r.virsh, vm, cp);
  }

  return {
    async reprotectSource(input: { vm: string }): Promise<ReprotectSourceResult> {
      return guarded(async () => {
        inputName('vm', input.vm);
        const info = await driver.inspectVm(input.vm);
        const running = info.state !== 'shut off';
        const disks: ReprotectSourceDisk[] = [];
        const backings = new Set<string>();
        for (const d of dataDisks(info)) {
          const i = await imageInfo(d.source, { forceShare: true });
          disks.push({ target: d.target, image: d.source, virtualSize: i.virtualSize });
          backings.add(i.fullBackingFilename ?? '');
        }
        const { points } = await r.store.scanPoints(input.vm);
        const owner = points.find((p) =>
          [...backings].every((b) => b.startsWith(`${r.store.pointDir(input.vm, p.pointId)}/`)),
        );
        if (!owner) {
          return {
            vm: input.vm,
            running,
            disks,
            pointId: null,
            checkpoint: null,
            noCommonPoint: `the disks of ${input.vm} at site ${driver.site} are not overlays on one committed point (${[...backings].join(', ') || 'no backing file'})`,
          };
        }
        return { vm: input.vm, running, disks, pointId: owner.pointId, checkpoint: owner.sourceCheckpoint };
      });
    },

    /** Active site: serves the common point's block digests (the digest fallback compares them). */
    async reprotectPointDigests(input: { vm: string; pointId: string }): Promise<BaseBlocksTransfer> {
      return guarded(async () => {
        inputName('vm', input.vm);
        const m = await r.store.getPoint(input.vm, inputName('point id', input.pointId));
        if (m === null) {
          throw ApplicationFailure.create({
            type: 'POINT_NOT_FOUND',
            message: `no committed point ${input.pointId} of ${input.vm} at site ${driver.site}`,
            nonRetryable: true,
          });
        }
        return serveBaseBlocks(r, m);
      });
    },

    async reprotectDivergence(input: {
      operationId: string;
      runbook: string;
      vm: string;
      pointId: string | null;
      checkpoint: string | null;
      /** The common point's block digests, served by the active site (the digest fallback). */
      digests?: BaseBlocksTransfer;
    }): Promise<DivergenceResult> {
      return guarded(async () => {
        const dir = workDir(input.vm, input.operationId);
        const kept = await readJson<DivergenceResult>(join(dir, 'divergence.json'));
        if (kept) return kept;
        await mkdir(dir, { recursive: true });
        const info = await stoppedVm(input.vm);
        const prior = await readJson<ReprotectedMark>(
          join(r.storage, 'reprotect', input.vm, 'reprotected.json'),
        );
        const disks: DivergentDisk[] = [];
        const toSave: Array<{
          target: string;
          image: string;
          format: string;
          virtualSize: number;
          extents: Extent[];
        }> = [];
        let needsDigests = false;
        let pointBlocks: Map<string, { blocks: Buffer[]; blockSize: number }> | undefined;
        for (const d of dataDisks(info)) {
          const size = (await imageInfo(d.source)).virtualSize;
          if (input.checkpoint === null || input.pointId === null) {
            disks.push({ target: d.target, extents: [], bytes: 0, unknown: 'no common point' });
            continue;
          }
          // After an earlier reprotect from the same point, only what was written since it counts.
          const since = prior?.pointId === input.pointId ? prior.bitmap : input.checkpoint;
          const dirty: Awaited<ReturnType<typeof dirtySince>> =
            d.format === 'qcow2'
              ? await dirtySince(d.source, since)
              : { ok: false, reason: `${d.source} is ${d.format}: no bitmaps` };
          let found: Extent[];
          let method: DivergentDisk['method'] = 'bitmap';
          if (dirty.ok) found = dirty.extents;
          else {
            // The bitmaps are gone: the disk's block digests against the common point's.
            if (input.digests === undefined) {
              needsDigests = true;
              disks.push({ target: d.target, extents: [], bytes: 0, unknown: dirty.reason });
              continue;
            }
            pointBlocks ??= await pullPointBlocks(input.digests, join(dir, 'point-blocks'), r);
            const theirs = pointBlocks.get(d.target);
            const mine = theirs ? await digestImage(d.source, { blockSize: theirs.blockSize }) : undefined;
            const byDigests = theirs && mine ? divergenceByDigests(mine.blocks, theirs, size) : undefined;
            if (byDigests === undefined) {
              disks.push({
                target: d.target,
                extents: [],
                bytes: 0,
                unknown: `${dirty.reason}; the point's block digests of ${d.target} do not match its shape`,
              });
              continue;
            }
            found = byDigests;
            method = 'digests';
          }
          const extents = alignExtents(found, DELTA_GRANULARITY, size);
          disks.push({ target: d.target, extents, bytes: totalLength(extents), method });
          if (extents.length > 0)
            toSave.push({ target: d.target, image: d.source, format: d.format, virtualSize: size, extents });
        }
        // Nothing saved or recorded yet: the workflow asks again with the point's digests.
        if (needsDigests) return { vm: input.vm, disks, needsDigests, sideBytes: 0 };
        // The old primary's own writes after the point are saved before anything overwrites them.
        let sideDir: string | undefined;
        let sideBytes = 0;
        if (toSave.length > 0) {
          sideDir = join(
            r.storage,
            'divergent',
            inputName('runbook', input.runbook),
            input.vm,
            operationKey(input.operationId),
          );
          const index = await readDeltaIndex(sideDir);
          if (index === null) {
            await rm(sideDir, { recursive: true, force: true });
            await mkdir(sideDir, { recursive: true });
            const saved: DeltaDisk[] = [];
            for (const s of toSave) saved.push(await writeDeltaDisk(sideDir, s, { onProgress: beat }));
            await writeDeltaIndex(sideDir, {
              version: 1,
              vm: input.vm,
              operationId: input.operationId,
              pointId: input.pointId,
              createdAt: new Date().toISOString(),
              source: `${input.vm} at site ${driver.site}, written after ${input.pointId ?? 'the common point'}`,
              reason:
                'blocks the old primary wrote after the common point, about to be overwritten by reprotect',
              disks: saved,
            });
            sideBytes = saved.reduce((n, s) => n + s.bytes, 0);
          } else sideBytes = index.disks.reduce((n, s) => n + s.bytes, 0);
        }
        const result: DivergenceResult = {
          vm: input.vm,
          disks,
          ...(sideDir ? { sideDir } : {}),
          sideBytes,
          ...(prior !== null && prior.pointId === input.pointId ? { lastReprotect: prior.operationId } : {}),
        };
        await writeFileAtomic(join(dir, 'divergence.json'), JSON.stringify(result));
        return result;
      });
    },

    async reprotectExport(input: ReprotectExportInput): Promise<ReprotectExportResult> {
      return guarded(async () => {
        const dir = workDir(input.vm, input.operationId);
        const transferId = inputName(
          'transfer id',
          `${input.vm}.reprotect.${operationKey(input.operationId)}`,
        );
        const kept = await readJson<Omit<ReprotectExportResult, 'transfer'>>(join(dir, 'export.json'));
        let result: Omit<ReprotectExportResult, 'transfer'>;
        const index = await readDeltaIndex(join(dir, 'out'));
        if (kept && index) result = kept;
        else {
          const out = join(dir, 'out');
          await rm(out, { recursive: true, force: true });
          await mkdir(out, { recursive: true });
          const info = await driver.inspectVm(input.vm);
          const disks = dataDisks(info);
          const running = info.state !== 'shut off';
          // The point in time: a backup of a running VM; a stopped VM's disks as they are.
          const snaps = new Map(disks.map((d) => [d.target, join(out, `${d.target}.snapshot.qcow2`)]));
          const cycle = await takeReverseChanges(
            { virsh: r.virsh, storage: r.storage, site: driver.site, heartbeat: beat },
            {
              operationId: input.operationId,
              checkpoint: `${REVERSE_CHECKPOINT_PREFIX}${operationKey(input.operationId)}`,
              vm: input.vm,
              pointId: input.pointId,
              ...(input.fullReason === undefined ? {} : { fullReason: input.fullReason }),
              ...(input.lastReprotect === undefined ? {} : { lastReprotect: input.lastReprotect }),
              divergent: input.divergent.some((d) => d.extents.length > 0 || d.unknown !== undefined),
            },
            disks.map((d) => ({ target: d.target, source: d.source })),
            running,
            snaps,
            out,
          );
          const shipped: DeltaDisk[] = [];
          const figures: ReprotectExportResult['disks'] = [];
          for (const d of disks) {
            const size = (await imageInfo(d.source, { forceShare: true })).virtualSize;
            const changed = cycle.changed.get(d.target) ?? [];
            const theirs = input.divergent.find((x) => x.target === d.target);
            const fullReason = input.fullReason ?? theirs?.unknown;
            const extents =
              fullReason !== undefined
                ? [{ start: 0, length: size }]
                : alignExtents(unionExtents(changed, theirs?.extents ?? []), DELTA_GRANULARITY, size);
            const image = running ? snaps.get(d.target)! : d.source;
            const disk = await writeDeltaDisk(
              out,
              {
                target: d.target,
                image,
                format: 'qcow2',
                virtualSize: size,
                extents,
                ...(fullReason ? { fullReason } : {}),
              },
              // An incremental target's backing file is the live overlay, which QEMU holds.
              { onProgress: beat, forceShare: cycle.since !== undefined && running },
            );
            shipped.push(disk);
            figures.push({
              target: d.target,
              extents: extents.length,
              bytes: disk.bytes,
              overlayBytes: totalLength(alignExtents(changed, DELTA_GRANULARITY, size)),
              ...(fullReason ? { fullReason } : {}),
            });
            if (running) await rm(snaps.get(d.target)!, { force: true });
          }
          await writeDeltaIndex(out, {
            version: 1,
            vm: input.vm,
            operationId: input.operationId,
            pointId: input.pointId,
            createdAt: new Date().toISOString(),
            source: `${input.vm} at site ${driver.site} (${running ? 'backup of the running VM' : 'stopped'})`,
            disks: shipped,
          });
          result = {
            vm: input.vm,
            disks: figures,
            deltaBytes: shipped.reduce((n, s) => n + s.bytes, 0),
            snapshot: running ? 'backup' : 'stopped',
            ...(cycle.since === undefined ? {} : { since: cycle.since }),
            ...(cycle.sinceFailover === undefined ? {} : { sinceFailover: cycle.sinceFailover }),
            ...(cycle.checkpoint === undefined ? {} : { checkpoint: cycle.checkpoint }),
            images: Object.fromEntries(disks.map((d) => [d.target, d.source])),
            pointId: input.pointId,
          };
          await writeFileAtomic(join(dir, 'export.json'), JSON.stringify(result));
        }
        const out = join(dir, 'out');
        const served = (await readDeltaIndex(out))!;
        const files = [
          ...served.disks.map((d) => ({
            name: d.file,
            path: join(out, d.file),
            digest: { sha256: d.sha256, size: d.bytes },
          })),
          { name: 'delta.json', path: join(out, 'delta.json') },
        ];
        const nonce = newTransferNonce();
        await r.server.register({ transferId, nonce, files });
        return { ...result, transfer: { baseUrl: r.server.url, site: r.server.site, transferId, nonce } };
      });
    },

    async reprotectApply(input: ReprotectApplyInput): Promise<ReprotectApplyResult> {
      return guarded(async () => {
        inputName('transfer id', input.transfer.transferId);
        const dir = workDir(input.vm, input.operationId);
        const kept = await readJson<ReprotectApplyResult>(join(dir, 'applied.json'));
        if (kept) return { ...kept, alreadyApplied: true };
        const info = await stoppedVm(input.vm);
        const inDir = join(dir, 'in');
        await mkdir(inDir, { recursive: true });
        const cancel = Context.current().cancellationSignal;
        const counted = (await readJson<{ bytes: number; resumes: number }>(join(dir, 'received.json'))) ?? {
          bytes: 0,
          resumes: 0,
        };
        const pulled = await pullTransfer({
          baseUrl: input.transfer.baseUrl,
          transferId: input.transfer.transferId,
          token: grantToken(r.transferKey, input.transfer),
          tls: r.tls.files,
          destDir: inDir,
          idleTimeoutMs: r.pullIdleTimeoutMs ?? 10_000,
          maxAttemptsWithoutProgress: 1000,
          backoff: { initialMs: 500, maxMs: 5_000 },
          onProgress: beat,
          signal: cancel,
        });
        const received = {
          bytes: counted.bytes + pulled.bytesReceived,
          resumes: counted.resumes + pulled.resumes,
        };
        await writeFileAtomic(join(dir, 'received.json'), JSON.stringify(received));
        const index = await readDeltaIndex(inDir);
        if (index === null || index.vm !== input.vm || index.operationId !== input.operationId) {
          throw ApplicationFailure.create({
            type: 'DELTA_INVALID',
            message: `the reprotect delta of ${input.vm} has no index for ${input.operationId}`,
            nonRetryable: true,
          });
        }
        const points =
          input.keepPoints === undefined
            ? undefined
            : await beginReversePoint(
                { storage: r.storage, site: driver.site, onProgress: beat },
                {
                  operationId: input.operationId,
                  key: operationKey(input.operationId),
                  index,
                  disks: dataDisks(info),
                  divergence: await readJson<DivergenceResult>(
                    join(workDir(input.vm, input.operationId), 'divergence.json'),
                  ),
                },
              );
        let bytesWritten = 0;
        for (const d of index.disks) {
          const disk = dataDisks(info).find((x) => x.target === d.target);
          if (!disk) {
            throw ApplicationFailure.create({
              type: 'DELTA_INVALID',
              message: `${input.vm} at site ${driver.site} has no disk ${d.target}`,
              nonRetryable: true,
            });
          }
          inputName('delta file', d.file);
          const size = (await imageInfo(disk.source)).virtualSize;
          if (size !== d.virtualSize) {
            throw ApplicationFailure.create({
              type: 'DELTA_INVALID',
              message: `${d.target} is ${size} bytes at site ${driver.site}, ${d.virtualSize} at the active site`,
              nonRetryable: true,
            });
          }
          // Writing the same bytes again is harmless: a retry after a crash mid-write redoes it.
          bytesWritten += await writeRanges(disk.source, disk.format, join(inDir, d.file), d.extents, {
            onProgress: beat,
          });
        }
        // A bitmap from here on: the next reprotect's divergence is what was written after this
        // one (this apply's own writes dirtied the older bitmaps).
        const bitmap = `lb-reprotect-${operationKey(input.operationId)}`;
        for (const d of index.disks) {
          const disk = dataDisks(info).find((x) => x.target === d.target)!;
          if (disk.format !== 'qcow2') continue;
          const had = (await diskBitmaps(disk.source)).map((b) => b.name);
          if (!had.includes(bitmap)) await addBitmap(disk.source, bitmap);
          for (const old of had.filter((b) => b.startsWith('lb-reprotect-') && b !== bitmap))
            await removeBitmap(disk.source, old);
        }
        const point =
          points === undefined || input.keepPoints === undefined
            ? undefined
            : await commitPendingPoint(r.storage, points, input.keepPoints);
        const mark: ReprotectedMark = { operationId: input.operationId, pointId: index.pointId, bitmap };
        await writeFileAtomic(
          join(r.storage, 'reprotect', input.vm, 'reprotected.json'),
          JSON.stringify(mark),
        );
        const result: ReprotectApplyResult = {
          vm: input.vm,
          bytesReceived: received.bytes,
          resumes: received.resumes,
          bytesWritten,
          alreadyApplied: false,
          ...(point === undefined ? {} : { point }),
        };
        await writeFileAtomic(join(dir, 'applied.json'), JSON.stringify(result));
        await rm(inDir, { recursive: true, force: true });
        return result;
      });
    },

    /**
     * The runbook's divergent blocks kept at this site, and the discards so far; with `discard`,
     * removes them after recording who and why (an operator's explicit request only).
     */
    async divergentBlocks(input: {
      runbook: string;
      discard?: { by: string; reason: string };
    }): Promise<{ site: string; kept: DivergentEntry[]; discarded: DiscardRecord[] }> {
      return guarded(async () => {
        inputName('runbook', input.runbook);
        if (input.discard !== undefined) {
          if (typeof input.discard.reason !== 'string' || input.discard.reason.trim() === '') {
            throw ApplicationFailure.create({
              type: 'NO_REASON',
              message: 'discarding divergent blocks needs a reason',
              nonRetryable: true,
            });
          }
          await discardDivergent(r.storage, input.runbook, input.discard);
        }
        return {
          site: driver.site,
          kept: await listDivergent(r.storage, input.runbook),
          discarded: await discardLog(r.storage, input.runbook),
        };
      });
    },

    /** Active site: unregister the delta and remove it; returns what the server sent for it. */
    async reprotectCleanup(input: {
      operationId: string;
      vm: string;
      /** The old primary applied this delta: the next reverse cycle counts from its checkpoint. */
      applied?: boolean;
    }): Promise<{ bytesSent: number | null }> {
      return guarded(async () => {
        const transferId = inputName(
          'transfer id',
          `${input.vm}.reprotect.${operationKey(input.operationId)}`,
        );
        const stats = r.server.stats(transferId);
        await r.server.unregister(transferId);
        await rm(join(workDir(input.vm, input.operationId), 'out'), { recursive: true, force: true });
        if (input.applied === true) await recordReverseBase(input.operationId, input.vm);
        return { bytesSent: stats?.bytesSent ?? null };
      });
    },
  };
}

export type ReprotectActivities = ReturnType<typeof createReprotectActivities>;

/** Every reprotect activity's name (the compiler keeps the list whole). */
export const REPROTECT_ACTIVITY_NAMES = Object.keys({
  reprotectSource: true,
  reprotectPointDigests: true,
  reprotectDivergence: true,
  reprotectExport: true,
  reprotectApply: true,
  divergentBlocks: true,
  reprotectCleanup: true,
} satisfies Record<keyof ReprotectActivities, true>) as Array<keyof ReprotectActivities>;
