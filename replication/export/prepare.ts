/**
 * The primary's half of a cycle for one VM: decide full or incremental, take the checkpoint and
 * the backup into `<storage>/replication/export/<vm>/<pointId>/`, hash what was written and
 * register it with the transfer server under a fresh nonce (the token is derived from it, never
 * returned). Idempotent by point id: a finished export is returned again (with a new nonce, so a
 * new token); an export interrupted at any step is undone (job aborted, its checkpoint deleted,
 * its files removed) and redone.
 */
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decodeBlockDigests } from '../block-digests.ts';
import { digestImage } from '../content-digest.ts';
import { exists, sha256File, writeFileAtomic } from '../fsutil.ts';
import { assertSafeName, type CapturedCommand } from '../manifest.ts';
import { PhaseClock } from '../phases.ts';
import type { TlsFiles } from '../tls.ts';
import { pullTransfer } from '../transfer/client.ts';
import { type NbdAddress, nbdPsk } from '../transfer/nbd.ts';
import { grantToken, newTransferNonce } from '../transfer/protocol.ts';
import type { TransferServer } from '../transfer/server.ts';
import { type ExportedBootFile, exportBootFiles, type PointBootFile } from './boot-files.ts';
import { type DomainDisk, domainDisks } from './domain.ts';
import { ExportError } from './errors.ts';
import { armCommands, collectOutputs, type GuestFiles, notCaptured } from './guest-commands.ts';
import { type NbdDisk, startNbdExport, stopLeftoverExportDaemons, stopNbdExport } from './nbd-export.ts';
import {
  addCheckpointBitmaps,
  deleteOfflineCheckpoint,
  diskBitmaps,
  type OfflineExportResult,
  redefineOfflineCheckpoint,
  runOfflineExport,
} from './offline.ts';
import {
  abortStaleBackup,
  checkpointDirtyBytes,
  deleteCheckpoint,
  listCheckpoints,
  runOnlineBackup,
} from './online.ts';
import { buildResyncLayer } from './resync.ts';
import type { ThawOutcome } from './thaw.ts';
import type { VirshTarget } from './virsh.ts';

/** Checkpoints Lifeboat creates carry this prefix; no other checkpoint is ever touched. */
export const CHECKPOINT_PREFIX = 'lb-';

export function checkpointName(pointId: string): string {
  return `${CHECKPOINT_PREFIX}${pointId}`;
}

export interface ExportBase {
  pointId: string;
  checkpoint: string;
  targets: string[];
  /** The base point's boot files: the same bytes are linked at the secondary, not shipped. */
  bootFiles?: PointBootFile[];
}

export interface PrepareExportInput {
  vm: string;
  domain: string;
  pointId: string;
  /** The newest committed point at the secondary (null: none). Never chosen by the primary. */
  base: ExportBase | null;
  /** Why the secondary says the base cannot be continued (e.g. it failed verification). */
  baseUnusable?: string;
  /** Checkpoints some committed point references; every other `lb-` checkpoint is deleted. */
  keepCheckpoints: string[];
  consistency: 'application' | 'crash';
  /** The VM's `data` check commands: run in the guest's fsfreeze hook as the point is taken. */
  dataCommands?: string[][];
  /**
   * Where the secondary serves the base point's block digests (one file per disk): pulled only
   * when broken bitmaps force a resync. Not in the payload: a 64 GiB disk's list is 2 MiB.
   */
  baseBlocks?: BaseBlocksTransfer;
}

export interface BaseBlocksTransfer {
  baseUrl: string;
  transferId: string;
  /** The serving site and the registration's nonce: the token is derived from them. */
  site: string;
  nonce: string;
  /** Only in results recorded before tokens were derived (still honoured by a pull). */
  token?: string;
  /** Disk target -> the served file holding its block digests, and their block size. */
  disks: Record<string, { file: string; blockSize: number }>;
}

export interface ExportedDisk {
  target: string;
  file: string;
  sha256: string;
  size: number;
  parentPointId: string | null;
  fullReason?: string;
  /** The primary's content digest of the disk, when it computed one (resync): commit checks it. */
  contentRoot?: string;
  /**
   * Nothing changed since the parent point (its bitmap counted no dirty byte): no file is
   * shipped (size 0), the secondary adds an empty layer over the parent itself.
   */
  unchanged?: boolean;
  /**
   * Served over NBD (a full copy of a stopped disk): no file at the primary, `size` is the guest
   * data read (zeros travel as holes), `sha256` empty; `contentRoot` is the end-to-end check.
   */
  nbd?: boolean;
  /** The disk's virtual size (NBD disks: the secondary creates its image with it). */
  virtualSize?: number;
}

/** sha256 of no bytes: what an unchanged disk ships. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface PreparedExport {
  transferId: string;
  checkpoint: string;
  checkpointAt: string;
  kind: 'full' | 'incremental';
  fullReason?: string;
  mode: 'online' | 'offline';
  domainXml: string;
  disks: ExportedDisk[];
  /** The domain's direct-boot files (absent in exports written before they were recorded). */
  bootFiles?: ExportedBootFile[];
  consistency: { requested: 'application' | 'crash'; achieved: 'application' | 'crash'; reason?: string };
  /** What each `data` command printed at the snapshot, or why it was not captured. */
  commands?: CapturedCommand[];
  /** Dirty bytes the bitmap reported before the backup (incremental only). */
  dirtyBytes?: number;
  /** Set when the bitmaps were unusable and only blocks whose digests differ were shipped. */
  resync?: { reason: string; blocksCompared: number; blocksShipped: number };
  /** Set when the guest was frozen for the point and every thaw failed: it may still be frozen. */
  guestFrozen?: string;
  exportBytes: number;
  deletedCheckpoints: string[];
}

export interface PrepareExportResult extends PreparedExport {
  /** The serving site and the registration's nonce: the token is derived from them. */
  site: string;
  nonce: string;
  /** Only in results recorded before tokens were derived (still honoured by a pull). */
  token?: string;
  baseUrl: string;
  /** Where the disks marked `nbd` are served (TLS-PSK derived like the token). */
  nbd?: NbdAddress;
  /** True when a finished export of this point was found and served again. */
  reused: boolean;
  /** Milliseconds per step of this attempt (absent when a finished export was reused). */
  phasesMs?: Record<string, number>;
  /**
   * An idle point of a stopped VM: nothing registered, no staging left, no checkpoint made (the
   * point keeps its base's), so the cycle needs no cleanup at the primary once it is committed.
   */
  nothingToClean?: boolean;
}

export interface ExportDeps {
  virsh: VirshTarget;
  /** The site's storage root; exports live under `<storage>/replication/export`. */
  storage: string;
  server: TransferServer;
  /** This site's TLS files: a resync pulls the base point's block digests from the secondary. */
  tls: TlsFiles;
  /** The guest agent's file access, for `data` commands (absent: they are not captured). */
  guest?: GuestFiles;
  /** The transfer key both sites hold: the base blocks' token is derived from it. */
  transferKey: Buffer;
  heartbeat?: () => void;
  /** How each thaw after an fsfreeze ended (the activity raises a metric and logs it). */
  onThaw?: (domain: string, outcome: ThawOutcome) => void;
  /** The activity's cancellation: a resync's pull of the base blocks stops with it. */
  signal?: AbortSignal;
}

export function exportDir(storage: string, vm: string, pointId: string): string {
  return join(
    storage,
    'replication',
    'export',
    assertSafeName('vm', vm),
    assertSafeName('point id', pointId),
  );
}

const RESULT = 'export.json';
/** The disks an export serves over NBD (sources stay out of the result). */
const NBD_DISKS = 'nbd-disks.json';
/** Every `lb-` checkpoint the domain had once the export made its own: cleanup's shortcut. */
const SEEN = 'checkpoints.json';

async function recordSeen(dir: string, checkpoints: readonly string[], cp: string): Promise<void> {
  const seen = [...checkpoints.filter((c) => c.startsWith(CHECKPOINT_PREFIX) && c !== cp), cp];
  await writeFileAtomic(join(dir, SEEN), JSON.stringify(seen));
}

async function readSeen(dir: string): Promise<string[] | null> {
  try {
    const v = JSON.parse(await readFile(join(dir, SEEN), 'utf8')) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

function domainState(t: VirshTarget, domain: string): Promise<string> {
  return t.session.call<string>({ op: 'state', domain });
}

/** The domain's XML: the persistent definition with `inactive`, else what runs now. */
function readDomainXml(t: VirshTarget, domain: string, o: { inactive?: boolean } = {}): Promise<string> {
  return t.session.call<string>({ op: 'xml', domain, ...o });
}

function decideBase(
  input: PrepareExportInput,
  checkpoints: readonly string[],
  targets: readonly string[],
): { from: ExportBase | null; fullReason?: string } {
  const b = input.base;
  if (b === null) return { from: null, fullReason: 'first cycle: no committed point at the secondary' };
  if (input.baseUnusable !== undefined) return { from: null, fullReason: input.baseUnusable };
  if (!checkpoints.includes(b.checkpoint)) {
    return {
      from: null,
      fullReason: `chain cannot continue: checkpoint ${b.checkpoint} of point ${b.pointId} is gone at the primary`,
    };
  }
  const same = b.targets.length === targets.length && targets.every((t) => b.targets.includes(t));
  if (!same) {
    return {
      from: null,
      fullReason: `chain cannot continue: disks changed (${b.targets.join(',')} -> ${targets.join(',')})`,
    };
  }
  return { from: b };
}

export async function prepareExport(
  input: PrepareExportInput,
  deps: ExportDeps,
): Promise<PrepareExportResult> {
  const dir = exportDir(deps.storage, input.vm, input.pointId);
  const transferId = `${input.vm}.${input.pointId}`;
  const resultPath = join(dir, RESULT);
  const t = deps.virsh;

  if (await exists(resultPath)) {
    const done = JSON.parse(await readFile(resultPath, 'utf8')) as PreparedExport;
    return { ...done, ...(await register(deps, transferId, dir, done)), reused: true };
  }

  const clock = new PhaseClock();
  // Three questions to libvirt at once, on the site's open connection: the state decides the
  // path; the persistent XML serves both; the checkpoint list the offline path only (the online
  // one lists again after aborting a stale job). A failed early read is simply redone.
  const [state, inactiveXml, listed] = await clock.time('libvirt', () =>
    Promise.all([
      domainState(t, input.domain),
      readDomainXml(t, input.domain, { inactive: true }).catch(() => undefined),
      listCheckpoints(t, input.domain).catch(() => undefined),
    ]),
  );
  if (state === 'shut off')
    return prepareOffline(input, deps, dir, transferId, clock, {
      domainXml: inactiveXml,
      checkpoints: listed,
    });
  if (state !== 'running' && state !== 'paused') {
    throw new ExportError({
      code: 'DOMAIN_STATE',
      message: `${input.domain} is ${state}: neither running nor cleanly stopped`,
      context: { vm: input.vm, domain: input.domain, state },
      hint: 'a cycle exports running VMs by libvirt backups and stopped VMs offline; wait for it to settle',
      retryable: true,
    });
  }

  const cp = checkpointName(input.pointId);
  // An earlier attempt killed mid-way: undo it completely, then start over.
  await abortStaleBackup(t, input.domain);
  let checkpoints = await listCheckpoints(t, input.domain);
  const deleted: string[] = [];
  for (const name of checkpoints) {
    if (!name.startsWith(CHECKPOINT_PREFIX)) continue;
    if (name !== cp && input.keepCheckpoints.includes(name)) continue;
    await deleteCheckpoint(t, input.domain, name);
    if (name !== cp) deleted.push(name);
  }
  checkpoints = checkpoints.filter((c) => c !== cp && !deleted.includes(c));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });

  const liveXml = await readDomainXml(t, input.domain);
  const disks = replicatedDisks(liveXml, input);
  const targets = disks.map((d) => d.target);
  const decision = decideBase(input, checkpoints, targets);
  const dirtyBytes =
    decision.from === null
      ? undefined
      : await checkpointDirtyBytes(t, input.domain, decision.from.checkpoint);
  const files = new Map(disks.map((d) => [d.target, join(dir, `${d.target}.qcow2`)]));
  const backupInput = {
    domain: input.domain,
    checkpoint: cp,
    stagingDir: dir,
    freeze: input.consistency === 'application',
    ...(deps.heartbeat ? { heartbeat: deps.heartbeat } : {}),
    ...(deps.onThaw ? { onThaw: deps.onThaw } : {}),
  };
  const perDisk = new Map<string, Pick<ExportedDisk, 'parentPointId' | 'fullReason' | 'contentRoot'>>(
    targets.map((tg) => [
      tg,
      {
        parentPointId: decision.from?.pointId ?? null,
        ...(decision.fullReason === undefined ? {} : { fullReason: decision.fullReason }),
      },
    ]),
  );
  const dataCommands = input.dataCommands ?? [];
  const armed =
    dataCommands.length > 0 && backupInput.freeze
      ? await clock.time('commands', () => armCommands(deps.guest, input.domain, dataCommands))
      : undefined;
  let backup: Awaited<ReturnType<typeof runOnlineBackup>>;
  let resync: PreparedExport['resync'];
  try {
    backup = await clock.time('backup', () =>
      runOnlineBackup(t, { ...backupInput, from: decision.from?.checkpoint ?? null, files }),
    );
  } catch (e) {
    const from = decision.from;
    if (from === null || !(e instanceof ExportError) || !/inconsistent|broken bitmap/i.test(e.message))
      throw e;
    const r = await clock.time('resync', () =>
      resyncOnline(t, input, deps, dir, from, backupInput, files, perDisk),
    );
    backup = r.backup;
    resync = r.resync;
  }
  const commands =
    dataCommands.length === 0
      ? undefined
      : armed === undefined
        ? notCaptured(dataCommands, 'crash-consistent points never freeze the guest')
        : resync !== undefined
          ? notCaptured(dataCommands, 'the point was taken by a resync backup after the freeze that ran them')
          : await clock.time('commands', () =>
              collectOutputs(deps.guest, input.domain, dataCommands, armed, backup.freezeFailed),
            );
  const domainXml = inactiveXml ?? (await readDomainXml(t, input.domain, { inactive: true }));

  const exported: ExportedDisk[] = [];
  for (const d of disks) {
    deps.heartbeat?.();
    const digest = await clock.time('hash', () => sha256File(files.get(d.target)!));
    exported.push({ target: d.target, file: `${d.target}.qcow2`, ...digest, ...perDisk.get(d.target)! });
  }
  const anyParent = exported.some((d) => d.parentPointId !== null);
  const bootFiles = await clock.time('bootFiles', () =>
    exportBootFiles(domainXml, anyParent ? input.base : null),
  );
  const prepared: PreparedExport = {
    transferId,
    checkpoint: cp,
    checkpointAt: backup.checkpointAt,
    kind: anyParent ? 'incremental' : 'full',
    ...(decision.fullReason === undefined ? {} : { fullReason: decision.fullReason }),
    ...(resync === undefined ? {} : { resync }),
    mode: 'online',
    domainXml,
    disks: exported,
    bootFiles,
    consistency:
      input.consistency === 'application' && backup.freezeFailed !== undefined
        ? { requested: 'application', achieved: 'crash', reason: backup.freezeFailed }
        : { requested: input.consistency, achieved: input.consistency },
    ...(commands === undefined ? {} : { commands }),
    ...(dirtyBytes === undefined ? {} : { dirtyBytes }),
    ...(backup.guestFrozen === undefined ? {} : { guestFrozen: backup.guestFrozen }),
    exportBytes: exportBytes(exported, bootFiles),
    deletedCheckpoints: deleted,
  };
  await recordSeen(dir, checkpoints, cp);
  await writeFileAtomic(resultPath, JSON.stringify(prepared));
  const served = await register(deps, transferId, dir, prepared);
  return { ...prepared, ...served, reused: false, phasesMs: clock.record() };
}

/** The domain's file disks, every one of which a point holds; a domain without any is refused. */
function replicatedDisks(xml: string, input: PrepareExportInput) {
  const disks = domainDisks(xml);
  if (disks.length === 0) {
    throw new ExportError({
      code: 'NO_DISKS',
      message: `${input.domain} has no file-backed disks to replicate`,
      context: { vm: input.vm, domain: input.domain },
      hint: 'only file disks (qcow2 or raw) are replicated',
    });
  }
  return disks;
}

/** What the point ships: its disk layers and the boot files the base point does not hold. */
function exportBytes(disks: readonly ExportedDisk[], boot: readonly ExportedBootFile[]): number {
  const shipped = boot.filter((b) => b.fromPointId === undefined);
  return [...disks, ...shipped].reduce((s, f) => s + f.size, 0);
}

async function register(
  deps: ExportDeps,
  transferId: string,
  dir: string,
  p: PreparedExport,
  /** The NBD daemon this attempt already started under `nonce`'s key. */
  started?: { nonce: string; nbd: NbdAddress },
): Promise<{ site: string; nonce: string; baseUrl: string; nbd?: NbdAddress }> {
  const nonce = started?.nonce ?? newTransferNonce();
  const site = deps.server.site;
  // The NBD daemon of an earlier registration goes: its key was derived from the old nonce.
  const nbd = !p.disks.some((d) => d.nbd === true)
    ? undefined
    : (started?.nbd ?? (await serveNbd(deps, dir, transferId, nonce)));
  await deps.server.register({
    transferId,
    nonce,
    files: servedFiles(p).map((f) => ({
      name: f.name,
      path: f.bootSource ?? join(dir, f.name),
      digest: { sha256: f.sha256, size: f.size },
    })),
  });
  return { site, nonce, baseUrl: deps.server.url, ...(nbd === undefined ? {} : { nbd }) };
}

/**
 * The files an export's transfer serves over HTTPS, as registered: staged disk layers (not the
 * unchanged or streamed ones) and the boot files no base point holds, which are served from
 * where the domain boots them (a file changed since it was digested fails the pull's check
 * instead of landing in a point). The secondary pulls exactly these, without asking.
 */
export function servedFiles(
  p: Pick<PreparedExport, 'disks' | 'bootFiles'>,
): { name: string; sha256: string; size: number; bootSource?: string }[] {
  return [
    ...p.disks
      .filter((d) => d.unchanged !== true && d.nbd !== true)
      .map((d) => ({ name: d.file, sha256: d.sha256, size: d.size })),
    ...(p.bootFiles ?? [])
      .filter((b) => b.fromPointId === undefined)
      .map((b) => ({ name: b.file, sha256: b.sha256, size: b.size, bootSource: b.source })),
  ];
}

/** Serves the export's NBD disks under the key of `nonce` (any earlier daemon of `dir` stopped). */
async function serveNbd(
  deps: ExportDeps,
  dir: string,
  transferId: string,
  nonce: string,
): Promise<NbdAddress> {
  return startNbdExport(
    dir,
    deps.server.host,
    JSON.parse(await readFile(join(dir, NBD_DISKS), 'utf8')) as NbdDisk[],
    nbdPsk(deps.transferKey, { site: deps.server.site, transferId, nonce }),
  );
}

export interface CleanupExportInput {
  vm: string;
  domain: string;
  pointId: string;
  keepCheckpoints: string[];
}

/**
 * After a cycle (committed or not): the transfer is unregistered, the staged files removed and
 * every `lb-` checkpoint no committed point references deleted. Safe to repeat.
 */
export async function cleanupExport(
  input: CleanupExportInput,
  deps: ExportDeps,
): Promise<{ deletedCheckpoints: string[]; checkpointsKept: string[] }> {
  await deps.server.unregister(`${input.vm}.${input.pointId}`);
  const dir = exportDir(deps.storage, input.vm, input.pointId);
  const seen = await readSeen(dir);
  await stopNbdExport(dir);
  await rm(dir, { recursive: true, force: true });
  // Every checkpoint the export saw is kept: nothing to delete, no virsh call. One made since
  // would be deleted by the next export, which deletes every `lb-` checkpoint nobody keeps.
  if (seen?.every((c) => input.keepCheckpoints.includes(c)))
    return { deletedCheckpoints: [], checkpointsKept: seen };
  const deleted: string[] = [];
  const kept: string[] = [];
  let state = '';
  try {
    state = await domainState(deps.virsh, input.domain);
  } catch {
    return { deletedCheckpoints: [], checkpointsKept: [] };
  }
  const offline = state === 'shut off';
  if (!offline && state !== 'running' && state !== 'paused')
    return { deletedCheckpoints: [], checkpointsKept: [] };
  const disks = offline ? domainDisks(await readDomainXml(deps.virsh, input.domain, { inactive: true })) : [];
  if (!offline) await abortStaleBackup(deps.virsh, input.domain);
  for (const name of await listCheckpoints(deps.virsh, input.domain)) {
    if (!name.startsWith(CHECKPOINT_PREFIX)) continue;
    if (input.keepCheckpoints.includes(name)) {
      kept.push(name);
      continue;
    }
    if (offline) await deleteOfflineCheckpoint(deps.virsh, input.domain, name, disks);
    else await deleteCheckpoint(deps.virsh, input.domain, name);
    deleted.push(name);
  }
  return { deletedCheckpoints: deleted, checkpointsKept: kept };
}

/** The stopped-VM half: bitmaps read by a storage daemon, the new checkpoint made offline. */
async function prepareOffline(
  input: PrepareExportInput,
  deps: ExportDeps,
  dir: string,
  transferId: string,
  clock: PhaseClock,
  /** What prepareExport already asked libvirt (undefined: ask again). */
  read: { domainXml?: string | undefined; checkpoints?: string[] | undefined },
): Promise<PrepareExportResult> {
  const t = deps.virsh;
  const cp = checkpointName(input.pointId);
  const [domainXml, listed] = await Promise.all([
    read.domainXml ?? readDomainXml(t, input.domain, { inactive: true }),
    read.checkpoints ?? listCheckpoints(t, input.domain),
  ]);
  const disks = replicatedDisks(domainXml, input);
  let checkpoints = listed;
  const deleted: string[] = [];
  for (const name of checkpoints) {
    if (!name.startsWith(CHECKPOINT_PREFIX)) continue;
    if (name !== cp && input.keepCheckpoints.includes(name)) continue;
    await deleteOfflineCheckpoint(t, input.domain, name, disks);
    if (name !== cp) deleted.push(name);
  }
  checkpoints = checkpoints.filter((c) => c !== cp && !deleted.includes(c));
  // An export whose cleanup never ran may still serve (and lock) these disks: stop it first.
  await stopLeftoverExportDaemons(dirname(dir));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const targets = disks.map((d) => d.target);
  const decision = decideBase(input, checkpoints, targets);
  let broken = false;
  const bitmaps = new Map<string, { name: string; flags: string[] }[]>();
  const perDiskBitmaps = await clock.time('bitmaps', () =>
    Promise.all(disks.map((d) => diskBitmaps(d.source))),
  );
  for (const [n, d] of disks.entries()) bitmaps.set(d.target, perDiskBitmaps[n]!);
  if (decision.from !== null) {
    for (const d of disks) {
      // A bitmap QEMU did not close is marked in use; one it created and never wrote out (it
      // was killed) is missing although libvirt still lists the checkpoint. Either way only
      // the block digests can tell what changed.
      const b = bitmaps.get(d.target)?.find((x) => x.name === decision.from?.checkpoint);
      if (b === undefined || b.flags.includes('in-use')) broken = true;
    }
  }
  const files = new Map(disks.map((d) => [d.target, join(dir, `${d.target}.qcow2`)]));
  const perDisk = new Map<string, Pick<ExportedDisk, 'parentPointId' | 'fullReason' | 'contentRoot'>>(
    disks.map((d) => [
      d.target,
      {
        parentPointId: decision.from?.pointId ?? null,
        ...(decision.fullReason === undefined ? {} : { fullReason: decision.fullReason }),
      },
    ]),
  );
  let out: OfflineExportResult = {};
  let resync: PreparedExport['resync'];
  // A full copy of a stopped disk is streamed by the secondary straight from the disk: nothing
  // staged here, the disk read once (its content digest), served from the page cache after.
  const streamed = decision.from === null;
  if (streamed) {
    await writeFileAtomic(
      join(dir, NBD_DISKS),
      JSON.stringify(disks.map((d): NbdDisk => ({ name: d.target, source: d.source, format: d.format }))),
    );
  } else if (broken && decision.from !== null) {
    // QEMU was killed: the bitmaps do not know what changed. The stopped disks themselves are
    // stable, so they are compared block by block with the base point, without a copy.
    const from = decision.from;
    resync = await clock.time('resync', () => resyncOffline(input, deps, dir, from, disks, files, perDisk));
  } else if (decision.from !== null) {
    const parent = decision.from.pointId;
    out = await clock.time('backup', () =>
      runOfflineExport({
        domain: input.domain,
        disks,
        from: decision.from?.checkpoint ?? null,
        files,
        stagingDir: dir,
        checkpoint: cp,
        // The secondary keeps each disk as `<target>.qcow2` in the point's directory.
        backing: new Map(disks.map((d) => [d.target, `../${parent}/${d.target}.qcow2`])),
        ...(deps.heartbeat ? { heartbeat: deps.heartbeat } : {}),
      }),
    );
  }
  const checkpointAt = new Date().toISOString();
  const unchanged = new Set(out.unchanged ?? []);
  // Nothing written since the base checkpoint: its bitmaps count from now as well as from then,
  // so the point keeps that checkpoint instead of adding a bitmap per disk and libvirt metadata.
  const keptCheckpoint =
    resync === undefined && decision.from !== null && disks.every((d) => unchanged.has(d.target))
      ? decision.from.checkpoint
      : null;
  if (keptCheckpoint === null) {
    await clock.time('checkpoint', async () => {
      // An incremental's daemon added the bitmaps already: libvirt's metadata is left.
      if (out.checkpointBitmaps !== true) await addCheckpointBitmaps(disks, cp, bitmaps);
      await redefineOfflineCheckpoint(t, input.domain, cp, checkpoints.at(-1) ?? null, disks);
    });
  }
  // The daemon starts (~0.2-1 s here) while the disks are digested: the checkpoint's bitmaps
  // are written already, and both only read.
  const nonce = newTransferNonce();
  const serving = streamed
    ? clock.time('serve', () => serveNbd(deps, dir, transferId, nonce)).then((nbd) => ({ nonce, nbd }))
    : undefined;
  serving?.catch(() => undefined);
  const exported: ExportedDisk[] = [];
  for (const d of disks) {
    deps.heartbeat?.();
    if (streamed) {
      const digest = await clock.time('contentDigest', () => digestImage(d.source));
      exported.push({
        target: d.target,
        file: `${d.target}.qcow2`,
        sha256: '',
        size: digest.bytesRead,
        nbd: true,
        virtualSize: digest.digest.virtualSize,
        ...perDisk.get(d.target)!,
        contentRoot: digest.digest.root,
      });
      continue;
    }
    exported.push({
      target: d.target,
      file: `${d.target}.qcow2`,
      ...(unchanged.has(d.target)
        ? { sha256: EMPTY_SHA256, size: 0, unchanged: true }
        : await clock.time('hash', () => sha256File(files.get(d.target)!))),
      ...perDisk.get(d.target)!,
    });
  }
  const anyParent = exported.some((d) => d.parentPointId !== null);
  const bootFiles = await clock.time('bootFiles', () =>
    exportBootFiles(domainXml, anyParent ? input.base : null),
  );
  const prepared: PreparedExport = {
    transferId,
    checkpoint: keptCheckpoint ?? cp,
    checkpointAt,
    kind: anyParent ? 'incremental' : 'full',
    ...(decision.fullReason === undefined ? {} : { fullReason: decision.fullReason }),
    ...(resync === undefined ? {} : { resync }),
    mode: 'offline',
    domainXml,
    disks: exported,
    bootFiles,
    // A cleanly stopped VM has nothing in flight: the point is as consistent as asked.
    consistency: { requested: input.consistency, achieved: input.consistency },
    ...(input.dataCommands?.length
      ? { commands: notCaptured(input.dataCommands, 'the VM was shut off: no guest ran the commands') }
      : {}),
    ...(out.dirtyBytes === undefined ? {} : { dirtyBytes: out.dirtyBytes }),
    exportBytes: exportBytes(exported, bootFiles),
    deletedCheckpoints: deleted,
  };
  if (keptCheckpoint !== null && servesNothing(prepared)) {
    // An idle point: no file to serve, no new checkpoint, so nothing for a cleanup to undo. No
    // export.json either: a retry finds the same bitmaps counting nothing and answers the same.
    await rm(dir, { recursive: true, force: true });
    return {
      ...prepared,
      site: deps.server.site,
      nonce: newTransferNonce(),
      baseUrl: deps.server.url,
      reused: false,
      nothingToClean: true,
      phasesMs: clock.record(),
    };
  }
  await clock.time('record', async () => {
    await recordSeen(dir, checkpoints, prepared.checkpoint);
    await writeFileAtomic(join(dir, RESULT), JSON.stringify(prepared));
  });
  const served = await clock.time('register', async () =>
    register(deps, transferId, dir, prepared, serving === undefined ? undefined : await serving),
  );
  return { ...prepared, ...served, reused: false, phasesMs: clock.record() };
}

/** Every disk unchanged and every boot file held by the base: the secondary fetches nothing. */
export function servesNothing(p: Pick<PreparedExport, 'disks' | 'bootFiles'>): boolean {
  return (
    p.disks.every((d) => d.unchanged === true) &&
    (p.bootFiles ?? []).every((b) => b.fromPointId !== undefined)
  );
}

/** Why a cycle compared block digests instead of trusting the bitmaps. */
function resyncReason(from: ExportBase): string {
  return `the dirty bitmaps of checkpoint ${from.checkpoint} are missing or inconsistent (QEMU was not shut down cleanly): resync by block digests against point ${from.pointId}`;
}

/**
 * Per disk, a layer of the blocks of `source(target)` whose digests differ from the base point's
 * (or, where they cannot be compared, the whole disk as a full copy, saying why).
 */
async function resyncLayers(
  input: PrepareExportInput,
  deps: ExportDeps,
  dir: string,
  from: ExportBase,
  files: Map<string, string>,
  source: (target: string) => { path: string; format: string },
  perDisk: Map<string, Pick<ExportedDisk, 'parentPointId' | 'fullReason' | 'contentRoot'>>,
  whole: (target: string, out: string) => Promise<void>,
): Promise<NonNullable<PreparedExport['resync']>> {
  const { blocks: baseBlocks, problem } = await pullBaseBlocks(input.baseBlocks, deps, dir);
  const reason = resyncReason(from) + (problem === undefined ? '' : `; ${problem}`);
  let compared = 0;
  let shipped = 0;
  for (const [target, out] of files) {
    const base = baseBlocks.get(target);
    const src = source(target);
    const layer =
      base === undefined
        ? null
        : await buildResyncLayer(src.path, out, base.blocks, base.blockSize, dir, deps.heartbeat, src.format);
    if (layer === null) {
      await whole(target, out);
      perDisk.set(target, { parentPointId: null, fullReason: `${reason}; ${target} could not be compared` });
      continue;
    }
    compared += layer.blocksCompared;
    shipped += layer.blocksShipped;
    perDisk.set(target, { parentPointId: from.pointId, contentRoot: layer.contentRoot });
  }
  return { reason, blocksCompared: compared, blocksShipped: shipped };
}

/**
 * The base point's block digests per disk, pulled from the secondary. None when it has none, or
 * when they cannot be fetched (then the disks are copied whole and `problem` says why).
 */
async function pullBaseBlocks(
  served: BaseBlocksTransfer | undefined,
  deps: ExportDeps,
  dir: string,
): Promise<{ blocks: Map<string, { blocks: Buffer[]; blockSize: number }>; problem?: string }> {
  const blocks = new Map<string, { blocks: Buffer[]; blockSize: number }>();
  if (served === undefined || Object.keys(served.disks).length === 0) return { blocks };
  const dest = join(dir, 'base-blocks');
  try {
    await mkdir(dest, { recursive: true });
    await pullTransfer({
      baseUrl: served.baseUrl,
      transferId: served.transferId,
      token: grantToken(deps.transferKey, served),
      tls: deps.tls,
      destDir: dest,
      idleTimeoutMs: 10_000,
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
    for (const [target, d] of Object.entries(served.disks)) {
      const file = join(dest, assertSafeName('block digest file', d.file));
      blocks.set(target, { blocks: decodeBlockDigests(await readFile(file)), blockSize: d.blockSize });
    }
    return { blocks };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { blocks: new Map(), problem: `the base point's block digests could not be fetched (${why})` };
  }
}

/** The stopped VM's disks compared with the base point in place (they do not change now). */
async function resyncOffline(
  input: PrepareExportInput,
  deps: ExportDeps,
  dir: string,
  from: ExportBase,
  disks: readonly DomainDisk[],
  files: Map<string, string>,
  perDisk: Map<string, Pick<ExportedDisk, 'parentPointId' | 'fullReason' | 'contentRoot'>>,
): Promise<NonNullable<PreparedExport['resync']>> {
  const byTarget = new Map(disks.map((d) => [d.target, d]));
  const disk = (target: string) => byTarget.get(target)!;
  return resyncLayers(
    input,
    deps,
    dir,
    from,
    files,
    (target) => ({ path: disk(target).source, format: disk(target).format }),
    perDisk,
    async (target, out) => {
      await runOfflineExport({
        domain: input.domain,
        disks: [disk(target)],
        from: null,
        files,
        stagingDir: dir,
      });
      if (!(await exists(out))) throw new Error(`no full copy of ${target} at ${out}`);
    },
  );
}

/**
 * The bitmaps of `from` are broken: take a full backup aside (with the new checkpoint), then
 * per disk keep only the blocks whose digests differ from the base point's.
 */
async function resyncOnline(
  t: VirshTarget,
  input: PrepareExportInput,
  deps: ExportDeps,
  dir: string,
  from: ExportBase,
  backupInput: Omit<Parameters<typeof runOnlineBackup>[1], 'from' | 'files'>,
  files: Map<string, string>,
  perDisk: Map<string, Pick<ExportedDisk, 'parentPointId' | 'fullReason' | 'contentRoot'>>,
): Promise<{
  backup: Awaited<ReturnType<typeof runOnlineBackup>>;
  resync: NonNullable<PreparedExport['resync']>;
}> {
  const fullDir = join(dir, 'full');
  await mkdir(fullDir, { recursive: true });
  const fullFiles = new Map([...files.keys()].map((tg) => [tg, join(fullDir, `${tg}.qcow2`)]));
  // The failed attempt may have left its checkpoint behind; the full backup creates it again.
  await deleteCheckpoint(t, input.domain, backupInput.checkpoint).catch(() => undefined);
  const backup = await runOnlineBackup(t, {
    ...backupInput,
    stagingDir: fullDir,
    from: null,
    files: fullFiles,
  });
  const resync = await resyncLayers(
    input,
    deps,
    dir,
    from,
    files,
    (target) => ({ path: fullFiles.get(target)!, format: 'qcow2' }),
    perDisk,
    (target, out) => rename(fullFiles.get(target)!, out),
  );
  await rm(fullDir, { recursive: true, force: true });
  return { backup, resync };
}
