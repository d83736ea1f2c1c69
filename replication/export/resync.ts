/**
 * A resync after the dirty bitmaps became unusable (QEMU killed: bitmaps left "in use"): the
 * primary digests a full backup (running VM) or the stopped disk itself per block and compares with the block digests of the
 * newest committed point, then builds a layer holding only the blocks that differ. The secondary
 * applies it on top of that point and checks the content digest against the primary's.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { blocksToExtents, differingBlocks } from '../block-digests.ts';
import { createImage } from '../chain.ts';
import { digestImage } from '../content-digest.ts';
import { runProcess } from '../exec.ts';
import { ExportError } from './errors.ts';

/** Pieces bigger than this are copied in several steps (each goes through a temp file). */
const PIECE = 64 * 1024 * 1024;

export interface ResyncLayer {
  blocksCompared: number;
  blocksShipped: number;
  /** The primary's content digest of the whole disk: the committed chain must match it. */
  contentRoot: string;
}

async function run(file: string, args: string[], what: string): Promise<void> {
  const r = await runProcess(file, args, { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0 || /error|failed/i.test(r.stderr)) {
    throw new ExportError({
      code: 'BACKUP_FAILED',
      message: `${what}: ${r.stderr.trim() || r.stdout.trim()}`,
      context: { args },
      hint: 'the resync layer could not be built; the cycle will be retried',
      retryable: true,
    });
  }
}

export async function buildResyncLayer(
  full: string,
  out: string,
  baseBlocks: readonly Buffer[],
  blockSize: number,
  tmpDir: string,
  heartbeat: () => void = () => {},
  format = 'qcow2',
): Promise<ResyncLayer | null> {
  const { digest, blocks } = await digestImage(full, { blockSize });
  heartbeat();
  // A resized disk cannot be compared block by block: the caller ships it whole.
  if (blocks.length !== baseBlocks.length) return null;
  const diff = differingBlocks(blocks, baseBlocks);
  await createImage(out, digest.virtualSize);
  const chunk = join(tmpDir, 'resync-piece.raw');
  for (const e of blocksToExtents(diff, digest.virtualSize, blockSize)) {
    for (let start = e.start; start < e.start + e.length; start += PIECE) {
      const length = Math.min(PIECE, e.start + e.length - start);
      await run(
        'qemu-img',
        [
          'dd',
          '-f',
          format,
          '-O',
          'raw',
          `bs=${blockSize}`,
          `skip=${start / blockSize}`,
          // qemu-img dd counts blocks from the start of the image, skipped ones included.
          `count=${start / blockSize + Math.ceil(length / blockSize)}`,
          `if=${full}`,
          `of=${chunk}`,
        ],
        'reading changed blocks',
      );
      await run(
        'qemu-io',
        ['-f', 'qcow2', '-c', `write -q -s ${chunk} ${start} ${length}`, out],
        'writing changed blocks',
      );
      await rm(chunk, { force: true });
      heartbeat();
    }
  }
  return { blocksCompared: blocks.length, blocksShipped: diff.length, contentRoot: digest.root };
}
