/**
 * The primary's half of a cycle for one VM: decide full or incremental, take the checkpoint and
 * the backup into `<storage>/replication/export/<vm>/<pointId>/`, hash what was written and
 * register it with the transfer server under a fresh token. Idempotent by point id: a finished
 * export is returned again (with a new token); an export interrupted at any step is undone
 * (job aborted, its checkpoint deleted, its files removed) and redone.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, sha256File, writeFileAtomic } from '../fsutil.ts';
import { assertSafeName } from '../manifest.ts';
import { newTransferToken } from '../transfer/protocol.ts';
import type { TransferServer } from '../transfer/server.ts';
import { domainDisks } from './domain.ts';
import { ExportError } from './errors.ts';
import {
  abortStaleBackup,
  checkpointDirtyBytes,
  deleteCheckpoint,
  listCheckpoints,
  runOnlineBackup,
} from './online.ts';
import { type VirshTarget, virsh } from './virsh.ts';

/** Checkpoints Lifeboat creates carry this prefix; no other checkpoint is ever touched. */
export const CHECKPOINT_PREFIX = 'lb-';

export function checkpointName(pointId: string): string {
  return `${CHECKPOINT_PREFIX}${pointId}`;
}

export interface ExportBase {
  pointId: string;
  checkpoint: string;
  targets: string[];
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
}

export interface ExportedDisk {
  target: string;
  file: string;
  sha256: string;
  size: number;
  parentPointId: string | null;
  fullReason?: string;
}

export interface PreparedExport {
  transferId: string;
  checkpoint: string;
  checkpointAt: string;
  kind: 'full' | 'incremental';
  fullReason?: string;
  mode: 'online';
  domainXml: string;
  disks: ExportedDisk[];
  consistency: { requested: 'application' | 'crash'; achieved: 'application' | 'crash'; reason?: string };
  /** Dirty bytes the bitmap reported before the backup (incremental only). */
  dirtyBytes?: number;
  exportBytes: number;
  deletedCheckpoints: string[];
}

export interface PrepareExportResult extends PreparedExport {
  token: string;
  baseUrl: string;
  /** True when a finished export of this point was found and served again. */
  reused: boolean;
}

export interface ExportDeps {
  virsh: VirshTarget;
  /** The site's storage root; exports live under `<storage>/replication/export`. */
  storage: string;
  server: TransferServer;
  heartbeat?: () => void;
}

export function exportDir(storage: string, vm: string, pointId: string): string {
  return join(storage, 'replication', 'export', assertSafeName('vm', vm), assertSafeName('point id', pointId));
}

const RESULT = 'export.json';

async function domainState(t: VirshTarget, domain: string): Promise<string> {
  return (await virsh(t, ['domstate', domain], { domain })).trim();
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

export async function prepareExport(input: PrepareExportInput, deps: ExportDeps): Promise<PrepareExportResult> {
  const dir = exportDir(deps.storage, input.vm, input.pointId);
  const transferId = `${input.vm}.${input.pointId}`;
  const resultPath = join(dir, RESULT);
  const t = deps.virsh;

  if (await exists(resultPath)) {
    const done = JSON.parse(await readFile(resultPath, 'utf8')) as PreparedExport;
    return { ...done, ...(await register(deps, transferId, dir, done)), reused: true };
  }

  const state = await domainState(t, input.domain);
  if (state !== 'running' && state !== 'paused') {
    throw new ExportError({
      code: 'OFFLINE_EXPORT_UNSUPPORTED',
      message: `${input.domain} is ${state}; only running VMs are exported by libvirt backups`,
      context: { vm: input.vm, domain: input.domain, state },
      hint: 'start the VM, or wait for the offline (stopped-VM) export',
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

  const liveXml = await virsh(t, ['dumpxml', input.domain], { domain: input.domain });
  const disks = domainDisks(liveXml);
  if (disks.length === 0) {
    throw new ExportError({
      code: 'NO_DISKS',
      message: `${input.domain} has no file-backed disks to replicate`,
      context: { vm: input.vm, domain: input.domain },
      hint: 'only file disks (qcow2 or raw) are replicated',
    });
  }
  const targets = disks.map((d) => d.target);
  const decision = decideBase(input, checkpoints, targets);
  const dirtyBytes =
    decision.from === null ? undefined : await checkpointDirtyBytes(t, input.domain, decision.from.checkpoint);
  const files = new Map(disks.map((d) => [d.target, join(dir, `${d.target}.qcow2`)]));
  const backup = await runOnlineBackup(t, {
    domain: input.domain,
    checkpoint: cp,
    from: decision.from?.checkpoint ?? null,
    files,
    stagingDir: dir,
    freeze: input.consistency === 'application',
    ...(deps.heartbeat ? { heartbeat: deps.heartbeat } : {}),
  });
  const domainXml = await virsh(t, ['dumpxml', '--inactive', input.domain], { domain: input.domain });

  const exported: ExportedDisk[] = [];
  for (const d of disks) {
    deps.heartbeat?.();
    const digest = await sha256File(files.get(d.target)!);
    exported.push({
      target: d.target,
      file: `${d.target}.qcow2`,
      ...digest,
      parentPointId: decision.from?.pointId ?? null,
      ...(decision.fullReason === undefined ? {} : { fullReason: decision.fullReason }),
    });
  }
  const prepared: PreparedExport = {
    transferId,
    checkpoint: cp,
    checkpointAt: backup.checkpointAt,
    kind: decision.from === null ? 'full' : 'incremental',
    ...(decision.fullReason === undefined ? {} : { fullReason: decision.fullReason }),
    mode: 'online',
    domainXml,
    disks: exported,
    consistency:
      input.consistency === 'application' && backup.freezeFailed !== undefined
        ? { requested: 'application', achieved: 'crash', reason: backup.freezeFailed }
        : { requested: input.consistency, achieved: input.consistency },
    ...(dirtyBytes === undefined ? {} : { dirtyBytes }),
    exportBytes: exported.reduce((s, d) => s + d.size, 0),
    deletedCheckpoints: deleted,
  };
  await writeFileAtomic(resultPath, JSON.stringify(prepared));
  return { ...prepared, ...(await register(deps, transferId, dir, prepared)), reused: false };
}

async function register(
  deps: ExportDeps,
  transferId: string,
  dir: string,
  p: PreparedExport,
): Promise<{ token: string; baseUrl: string }> {
  const token = newTransferToken();
  await deps.server.register({
    transferId,
    token,
    files: p.disks.map((d) => ({
      name: d.file,
      path: join(dir, d.file),
      digest: { sha256: d.sha256, size: d.size },
    })),
  });
  return { token, baseUrl: deps.server.url };
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
  await rm(exportDir(deps.storage, input.vm, input.pointId), { recursive: true, force: true });
  const deleted: string[] = [];
  const kept: string[] = [];
  let state = '';
  try {
    state = await domainState(deps.virsh, input.domain);
  } catch {
    return { deletedCheckpoints: [], checkpointsKept: [] };
  }
  if (state !== 'running' && state !== 'paused') return { deletedCheckpoints: [], checkpointsKept: [] };
  await abortStaleBackup(deps.virsh, input.domain);
  for (const name of await listCheckpoints(deps.virsh, input.domain)) {
    if (!name.startsWith(CHECKPOINT_PREFIX)) continue;
    if (input.keepCheckpoints.includes(name)) {
      kept.push(name);
      continue;
    }
    await deleteCheckpoint(deps.virsh, input.domain, name);
    deleted.push(name);
  }
  return { deletedCheckpoints: deleted, checkpointsKept: kept };
}
