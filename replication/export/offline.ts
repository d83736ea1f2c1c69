/**
 * The stopped-VM export. libvirt backups need a running QEMU, so the disks are opened by a
 * qemu-storage-daemon instead and each is backed up over QMP with `sync: bitmap` from the base
 * checkpoint's persistent bitmap (`bitmap-mode: never`: the base bitmap is left as it was), which
 * copies only the dirty clusters. The new checkpoint is a new enabled bitmap per disk (added by
 * that daemon, or `qemu-img bitmap --add --enable` where there is none) plus libvirt's metadata
 * for it (`checkpoint-create --redefine`), so the next online cycle continues from it.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageInfo } from '../chain.ts';
import { runProcess } from '../exec.ts';
import type { DomainDisk } from './domain.ts';
import { ExportError } from './errors.ts';
import { deleteCheckpoint } from './online.ts';
import { QmpClient } from './qmp.ts';
import type { VirshTarget } from './virsh.ts';

async function qemuImg(args: string[], context: Record<string, unknown>): Promise<string> {
  const r = await runProcess('qemu-img', args, { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) {
    throw new ExportError({
      code: 'BACKUP_FAILED',
      message: `qemu-img ${args[0]} failed: ${r.stderr.trim()}`,
      context: { ...context, args },
      hint: 'is the VM really stopped (the image not locked)?',
      retryable: true,
    });
  }
  return r.stdout;
}

/** Persistent bitmaps of a stopped disk, with their flags (`in-use` = QEMU did not close it). */
export async function diskBitmaps(path: string): Promise<{ name: string; flags: string[] }[]> {
  const out = JSON.parse(await qemuImg(['info', '--output=json', path], { path })) as {
    'format-specific'?: { data?: { bitmaps?: { name: string; flags: string[] }[] } };
  };
  return out['format-specific']?.data?.bitmaps ?? [];
}

export const BACKUP_DAEMON_PID_FILE = 'backup-daemon.pid';

interface DaemonHandle {
  qmp: QmpClient;
  stop(): Promise<void>;
}

async function startDaemon(dir: string): Promise<DaemonHandle> {
  const sock = join(dir, 'qsd.sock');
  await rm(sock, { force: true });
  const child = spawn(
    'qemu-storage-daemon',
    [
      '--chardev',
      `socket,id=m0,path=${sock},server=on,wait=off`,
      '--monitor',
      'chardev=m0',
      // A daemon its worker left behind (killed) is stopped by the next export, by this file.
      '--pidfile',
      join(dir, BACKUP_DAEMON_PID_FILE),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const deadline = Date.now() + 10_000;
  // The daemon listens within a few ms: retry soon, backing off, rather than a fixed 50 ms.
  let backoffMs = 1;
  for (;;) {
    try {
      const qmp = await QmpClient.connect(sock);
      return {
        qmp,
        async stop() {
          await qmp.execute('quit').catch(() => undefined);
          qmp.close();
          if (child.exitCode === null) {
            const exited = new Promise<void>((r) => child.once('exit', () => r()));
            await Promise.race([exited, sleep(5_000)]);
            if (child.exitCode === null) child.kill('SIGKILL');
          }
        },
      };
    } catch (e) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new ExportError({
          code: 'BACKUP_FAILED',
          message: `qemu-storage-daemon did not start: ${stderr.trim() || String(e)}`,
          hint: 'is qemu-system-common (qemu-storage-daemon) installed?',
          retryable: true,
        });
      }
      await sleep(backoffMs);
      backoffMs = Math.min(50, backoffMs * 2);
    }
  }
}

export interface OfflineExportInput {
  domain: string;
  disks: DomainDisk[];
  /** Incremental from this checkpoint's bitmaps; null for a full copy. */
  from: string | null;
  /** Disk target -> output file. */
  files: ReadonlyMap<string, string>;
  stagingDir: string;
  /**
   * The new checkpoint's bitmap, added to every disk by the daemon that reads them (one QMP
   * command, not a qemu-img process per disk) unless no disk changed. Incremental only.
   */
  checkpoint?: string;
  /**
   * Disk target -> the backing file the secondary's copy of the layer will name (its parent
   * point's image, relative). Written into the layer's header here, so the secondary neither
   * rebases nor hashes it again.
   */
  backing?: ReadonlyMap<string, string>;
  heartbeat?: () => void;
}

export interface OfflineExportResult {
  /** Dirty bytes of the base bitmaps (incremental only). */
  dirtyBytes?: number;
  /**
   * Disks whose base bitmap counts nothing dirty: no file is written for them, the secondary
   * adds an empty layer over the parent instead (an idle cycle ships nothing).
   */
  unchanged?: string[];
  /** True when `checkpoint`'s bitmap was added to every disk (some disk had changed). */
  checkpointBitmaps?: boolean;
}

interface BlockNode {
  'node-name': string;
  'dirty-bitmaps'?: Array<{ name: string; count: number; inconsistent?: boolean }>;
  image?: { 'virtual-size'?: number };
}

/** Copies each stopped disk, or only its clusters dirty since `from`, into its output file. */
export async function runOfflineExport(i: OfflineExportInput): Promise<OfflineExportResult> {
  if (i.from === null) {
    for (const d of i.disks) {
      i.heartbeat?.();
      await qemuImg(['convert', '-f', d.format, '-O', 'qcow2', d.source, i.files.get(d.target)!], {
        disk: d.target,
      });
    }
    return {};
  }
  const from = i.from;
  const daemon = await startDaemon(i.stagingDir);
  let dirty = 0;
  const unchanged: string[] = [];
  let checkpointBitmaps = false;
  try {
    // Every disk is opened first: their dirty counts decide whether the point needs a new
    // checkpoint at all. Writable only to take the new bitmap (the VM is stopped: nothing else
    // writes; an image QEMU holds refuses the open).
    for (const [n, d] of i.disks.entries()) {
      await daemon.qmp.execute('blockdev-add', {
        driver: d.format,
        'node-name': `src${n}`,
        'read-only': i.checkpoint === undefined,
        file: { driver: 'file', filename: d.source },
      });
    }
    const nodes = (await daemon.qmp.execute('query-named-block-nodes', { flat: true })) as BlockNode[];
    const node = (n: number) => nodes.find((x) => x['node-name'] === `src${n}`);
    const counts = i.disks.map((d, n) => {
      const bitmap = node(n)?.['dirty-bitmaps']?.find((b) => b.name === from);
      if (bitmap === undefined || bitmap.inconsistent === true) {
        throw new ExportError({
          code: 'BACKUP_FAILED',
          message: `disk ${d.target} has ${bitmap === undefined ? 'no' : 'an inconsistent'} bitmap ${from}`,
          context: { domain: i.domain, disk: d.target, checkpoint: from },
          hint: 'the chain cannot continue from this checkpoint: ship a full copy',
        });
      }
      dirty += bitmap.count;
      if (bitmap.count === 0) unchanged.push(d.target);
      return bitmap.count;
    });
    const name = i.checkpoint;
    if (name !== undefined && unchanged.length < i.disks.length) {
      for (const [n] of i.disks.entries()) {
        // A bitmap of this name left by an interrupted attempt counts from then: replaced.
        if (node(n)?.['dirty-bitmaps']?.some((b) => b.name === name))
          await daemon.qmp.execute('block-dirty-bitmap-remove', { node: `src${n}`, name });
        await daemon.qmp.execute('block-dirty-bitmap-add', { node: `src${n}`, name, persistent: true });
      }
      checkpointBitmaps = true;
    }
    for (const [n, d] of i.disks.entries()) {
      if (counts[n] === 0) continue;
      const out = i.files.get(d.target)!;
      const dst = `dst${n}`;
      // The daemon already knows the size: no qemu-img info per disk.
      const virtualSize =
        node(n)?.image?.['virtual-size'] ?? (await imageInfo(d.source, { forceShare: true })).virtualSize;
      const backing = i.backing?.get(d.target);
      await qemuImg(
        [
          'create',
          '-q',
          '-f',
          'qcow2',
          ...(backing === undefined ? [] : ['-u', '-b', backing, '-F', 'qcow2']),
          out,
          String(virtualSize),
        ],
        { disk: d.target },
      );
      await daemon.qmp.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': dst,
        file: { driver: 'file', filename: out },
        // The backing named is the secondary's: nothing to open here.
        ...(backing === undefined ? {} : { backing: null }),
      });
      const job = `backup-${n}`;
      await daemon.qmp.execute('blockdev-backup', {
        'job-id': job,
        device: `src${n}`,
        target: dst,
        sync: 'bitmap',
        bitmap: from,
        'bitmap-mode': 'never',
      });
      const done = await daemon.qmp.waitEvent(
        (e) =>
          (e.event === 'BLOCK_JOB_COMPLETED' || e.event === 'BLOCK_JOB_CANCELLED') && e.data?.device === job,
        30 * 60_000,
      );
      if (done.event !== 'BLOCK_JOB_COMPLETED' || done.data?.error !== undefined) {
        throw new ExportError({
          code: 'BACKUP_FAILED',
          message: `offline backup of ${d.target} failed: ${String(done.data?.error ?? done.event)}`,
          context: { domain: i.domain, disk: d.target },
          hint: 'see the storage daemon; the cycle will be retried',
          retryable: true,
        });
      }
      i.heartbeat?.();
      await daemon.qmp.execute('blockdev-del', { 'node-name': dst });
    }
    // Closing a node writes its persistent bitmaps into the image.
    for (const [n] of i.disks.entries()) await daemon.qmp.execute('blockdev-del', { 'node-name': `src${n}` });
  } finally {
    await daemon.stop();
  }
  return { dirtyBytes: dirty, unchanged, ...(checkpointBitmaps ? { checkpointBitmaps } : {}) };
}

/**
 * The bitmaps of a stopped VM's new checkpoint where no export daemon added them: an enabled
 * persistent bitmap per disk, one left by an interrupted attempt replaced. `known`: each disk's
 * bitmaps as just read (saves a qemu-img info per disk).
 */
export async function addCheckpointBitmaps(
  disks: DomainDisk[],
  name: string,
  known: ReadonlyMap<string, { name: string }[]>,
): Promise<void> {
  for (const d of disks) {
    if ((known.get(d.target) ?? (await diskBitmaps(d.source))).some((b) => b.name === name)) {
      await qemuImg(['bitmap', '--remove', d.source, name], { disk: d.target });
    }
    await qemuImg(['bitmap', '--add', '--enable', d.source, name], { disk: d.target });
  }
}

/**
 * libvirt's metadata for a stopped VM's checkpoint whose bitmaps the disks hold (libvirt cannot
 * create checkpoints of inactive domains, but it can redefine them). The caller deleted any
 * earlier checkpoint of this name.
 */
export async function redefineOfflineCheckpoint(
  t: VirshTarget,
  domain: string,
  name: string,
  parent: string | null,
  disks: DomainDisk[],
): Promise<void> {
  const xml = `<domaincheckpoint>
  <name>${name}</name>
${parent === null ? '' : `  <parent><name>${parent}</name></parent>\n`}  <creationTime>${Math.floor(Date.now() / 1000)}</creationTime>
  <disks>
${disks.map((d) => `    <disk name='${d.target}' checkpoint='bitmap' bitmap='${name}'/>`).join('\n')}
  </disks>
</domaincheckpoint>
`;
  await t.session.call({ op: 'checkpoint-redefine', domain, xml });
}

/** Removes a checkpoint of a stopped VM: libvirt's metadata and each disk's bitmap. */
export async function deleteOfflineCheckpoint(
  t: VirshTarget,
  domain: string,
  name: string,
  disks: DomainDisk[],
): Promise<void> {
  await deleteCheckpoint(t, domain, name, { metadataOnly: true });
  for (const d of disks) {
    if ((await diskBitmaps(d.source)).some((b) => b.name === name)) {
      await qemuImg(['bitmap', '--remove', d.source, name], { disk: d.target });
    }
  }
}
