/**
 * Reading and writing guest byte ranges of a disk image, and the ranges a disk's persistent
 * dirty bitmaps mark, all through qemu's own tools (argv arrays, never a shell): a range is a
 * `raw` node with offset and size over the image, so any format and chain reads and writes
 * correctly, and a qcow2 written this way marks its enabled bitmaps like a guest write would.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Extent, imageOptValue as opt } from '../chain.ts';
import { ReplicationError } from '../errors.ts';
import { runProcess } from '../exec.ts';
import { diskBitmaps } from '../export/offline.ts';
import { type BitmapMapEntry, dirtyFromBitmapMap, normalizeExtents } from './extents.ts';

function rangeOpts(path: string, format: string, e: Extent): string {
  const inner =
    format === 'raw'
      ? [`file.driver=file`, `file.filename=${opt(path)}`]
      : [`file.driver=${format}`, 'file.file.driver=file', `file.file.filename=${opt(path)}`];
  return ['driver=raw', `offset=${e.start}`, `size=${e.length}`, ...inner].join(',');
}

async function qemuImg(args: string[], context: Record<string, unknown>): Promise<string> {
  const r = await runProcess('qemu-img', args, { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) {
    throw new ReplicationError({
      code: 'PROCESS_FAILED',
      message: `qemu-img ${args[0]} failed: ${r.stderr.trim()}`,
      context: { ...context, args },
      hint: 'is the image in use by a running VM (locked), or missing a backing file?',
      retryable: true,
    });
  }
  return r.stdout;
}

/**
 * Appends the guest bytes of `extents` (in order) to `outFile`. `forceShare` reads an image a
 * running QEMU holds (only for images it does not write: backing files).
 */
export async function readRanges(
  image: string,
  format: string,
  extents: readonly Extent[],
  outFile: string,
  opts: { forceShare?: boolean; onProgress?: () => void } = {},
): Promise<number> {
  const tmp = await mkdtemp(`${outFile}.parts-`);
  let bytes = 0;
  try {
    await writeFile(outFile, Buffer.alloc(0));
    for (const [i, e] of extents.entries()) {
      opts.onProgress?.();
      const part = join(tmp, `${i}.raw`);
      await qemuImg(
        [
          'convert',
          ...(opts.forceShare ? ['-U'] : []),
          '-O',
          'raw',
          '--image-opts',
          rangeOpts(image, format, e),
          part,
        ],
        { image, extent: e },
      );
      const got = (await stat(part)).size;
      if (got !== e.length) {
        throw new ReplicationError({
          code: 'PROCESS_FAILED',
          message: `read ${got} bytes of ${image} at ${e.start}, expected ${e.length}`,
          context: { image, extent: e },
          hint: 'the range lies past the end of the disk',
        });
      }
      // Streamed: a range may be a whole disk, past what one Buffer holds.
      await pipeline(createReadStream(part), createWriteStream(outFile, { flags: 'a' }));
      await rm(part);
      bytes += got;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return bytes;
}

/** Writes `extents` of the guest view of `image` from `dataFile` (the ranges' bytes in order). */
export async function writeRanges(
  image: string,
  format: string,
  dataFile: string,
  extents: readonly Extent[],
  opts: { onProgress?: () => void } = {},
): Promise<number> {
  let pos = 0;
  for (const e of extents) {
    opts.onProgress?.();
    await qemuImg(
      [
        'convert',
        '-n',
        '--image-opts',
        rangeOpts(dataFile, 'raw', { start: pos, length: e.length }),
        '--target-image-opts',
        rangeOpts(image, format, e),
      ],
      { image, extent: e },
    );
    pos += e.length;
  }
  return pos;
}

export type DirtySince = { ok: true; extents: Extent[]; bitmaps: string[] } | { ok: false; reason: string };

/**
 * What a stopped qcow2 disk had written to it since `checkpoint`: the union of that checkpoint's
 * bitmap and of every bitmap created after it (libvirt disables a checkpoint's bitmap when the
 * next one starts). Unusable when the bitmap is gone or one of them was left in use by a QEMU
 * that did not close it.
 */
export async function dirtySince(image: string, checkpoint: string): Promise<DirtySince> {
  const bitmaps = await diskBitmaps(image);
  const from = bitmaps.findIndex((b) => b.name === checkpoint);
  if (from < 0) return { ok: false, reason: `${image} has no bitmap ${checkpoint}` };
  const since = bitmaps.slice(from);
  const broken = since.find((b) => b.flags.includes('in-use'));
  if (broken) return { ok: false, reason: `bitmap ${broken.name} of ${image} is inconsistent (in use)` };
  // A unix socket path must stay under ~108 bytes: a short one in the system's temp directory.
  const sockDir = await mkdtemp(join(tmpdir(), 'lb-nbd-'));
  const sock = join(sockDir, 's');
  const child = spawn(
    'qemu-nbd',
    ['-r', '-t', '-k', sock, '-f', 'qcow2', ...since.flatMap((b) => ['-B', b.name]), image],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    const extents: Extent[] = [];
    for (const b of since) {
      const args = [
        'map',
        '--output=json',
        '--image-opts',
        `driver=nbd,server.type=unix,server.path=${opt(sock)},x-dirty-bitmap=qemu:dirty-bitmap:${opt(b.name)}`,
      ];
      let out: string | undefined;
      for (let i = 0; out === undefined; i++) {
        const r = await runProcess('qemu-img', args, { timeoutMs: 60_000 });
        if (r.exitCode === 0) out = r.stdout;
        else if (child.exitCode !== null || i > 100) {
          throw new ReplicationError({
            code: 'PROCESS_FAILED',
            message: `reading bitmap ${b.name} of ${image} failed: ${r.stderr.trim()} ${stderr.trim()}`,
            context: { image, bitmap: b.name },
            hint: 'is the VM stopped (the image not locked)?',
            retryable: true,
          });
        } else await sleep(50);
      }
      extents.push(...dirtyFromBitmapMap(JSON.parse(out) as BitmapMapEntry[]));
    }
    return { ok: true, extents: normalizeExtents(extents), bitmaps: since.map((b) => b.name) };
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
    }
    await rm(sockDir, { recursive: true, force: true });
  }
}
