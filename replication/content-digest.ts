/**
 * Content digests of a disk's guest view (see block-digests.ts for the definition). The guest
 * view of a qcow2 chain is read through `nbdcopy -- [ qemu-nbd ... ] -`, a pipe with no temp
 * file; it measured faster here than `qemu-img convert -O raw` to a temp file and then reading
 * it (`qemu-img convert`/`dd` cannot write to a pipe). A range is read through a raw
 * offset/size node over the qcow2, so an incremental point rereads only the blocks its layer
 * touches.
 */
import { spawn } from 'node:child_process';
import {
  blockCount,
  blockLength,
  blocksKnownZero,
  blocksToExtents,
  blocksTouched,
  type ContentDigest,
  coalesceRuns,
  DEFAULT_BLOCK_SIZE,
  digestBlock,
  merkleRoot,
  zeroBlockDigest,
} from './block-digests.ts';
import { type Extent, imageInfo, zeroExtents } from './chain.ts';
import { ReplicationError } from './errors.ts';

export interface DiskDigest {
  digest: ContentDigest;
  /** One sha256 per block, in order: what a resync compares between the two sites. */
  blocks: Buffer[];
  /** Guest bytes read to compute it. */
  bytesRead: number;
}

/** image-opts values escape commas by doubling them. */
function optValue(v: string): string {
  return v.replaceAll(',', ',,');
}

function rangeImageOpts(path: string, format: string, start: number, length: number): string {
  return [
    'driver=raw',
    `offset=${start}`,
    `size=${length}`,
    `file.driver=${format}`,
    'file.file.driver=file',
    `file.file.filename=${optValue(path)}`,
  ].join(',');
}

/**
 * Streams guest bytes [start, start+length) of a qcow2 chain and calls `onBlock` with each
 * block-aligned piece (the range must start on a block boundary).
 */
async function readGuestBlocks(
  path: string,
  format: string,
  range: Extent,
  blockSize: number,
  opts: { forceShare?: boolean },
  onBlock: (data: Buffer) => void,
): Promise<number> {
  const qemuNbd = ['qemu-nbd', '-r', ...(opts.forceShare ? ['-U'] : []), '--image-opts'];
  const child = spawn(
    'nbdcopy',
    ['--', '[', ...qemuNbd, rangeImageOpts(path, format, range.start, range.length), ']', '-'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  for await (const chunk of child.stdout) {
    let buf = chunk as Buffer;
    total += buf.length;
    while (buf.length > 0) {
      const take = Math.min(blockSize - pendingBytes, buf.length);
      pending.push(buf.subarray(0, take));
      pendingBytes += take;
      buf = buf.subarray(take);
      if (pendingBytes === blockSize) {
        onBlock(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) onBlock(Buffer.concat(pending, pendingBytes));
  const code = await exited.catch((e: unknown) => {
    throw new ReplicationError({
      code: 'PROCESS_FAILED',
      message: `nbdcopy could not run: ${String(e)}`,
      context: { path },
      hint: 'install libnbd-bin and qemu-utils',
      cause: e,
    });
  });
  if (code !== 0 || total !== range.length) {
    throw new ReplicationError({
      code: 'PROCESS_FAILED',
      message: `reading the guest view of ${path} failed (exit ${code}, ${total} of ${range.length} bytes)`,
      context: { path, range, stderr: stderr.trim() },
      hint: 'is every file of the chain present and readable?',
      retryable: true,
    });
  }
  return total;
}

function digestOf(data: Buffer, zero: Buffer): Buffer {
  // Comparing with zeros is far cheaper than hashing, and most of a disk is zeros.
  if (data.length === zero.length ? data.equals(zero) : data.equals(zero.subarray(0, data.length))) {
    return zeroBlockDigest(data.length);
  }
  return digestBlock(data);
}

/** Each range read costs a reader process; beyond this many, neighbours are merged. */
/** At most this many reader processes for one digest, whatever the layout of the changes. */
const MAX_READ_RUNS = 256;
/** A gap worth reading rather than starting another reader (~90 ms each, ~300 MB/s reads). */
const CHEAP_GAP = 16 * 1024 * 1024;

/** Reads `runs` (block-aligned) of the chain and stores each block's digest at its index. */
async function digestRuns(
  path: string,
  format: string,
  runs: readonly Extent[],
  blocks: Buffer[],
  shape: { virtualSize: number; blockSize: number },
  opts: { forceShare?: boolean },
): Promise<number> {
  const { virtualSize, blockSize } = shape;
  const zero = Buffer.alloc(blockSize);
  let bytesRead = 0;
  for (const run of coalesceRuns(runs, MAX_READ_RUNS, CHEAP_GAP)) {
    let index = run.start / blockSize;
    bytesRead += await readGuestBlocks(path, format, run, blockSize, opts, (data) => {
      if (data.length !== blockLength(index, virtualSize, blockSize)) throw new RangeError('short block');
      blocks[index] = digestOf(data, zero);
      index++;
    });
  }
  return bytesRead;
}

/**
 * Digests the whole guest view of a chain. Ranges that `qemu-img map` reports as reading
 * zeros (unallocated everywhere, or zero clusters) are not read; everything else is.
 */
export async function digestImage(
  path: string,
  opts: { blockSize?: number; forceShare?: boolean } = {},
): Promise<DiskDigest> {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const { virtualSize, format } = await imageInfo(path, opts);
  const total = blockCount(virtualSize, blockSize);
  const zeros = blocksKnownZero(await zeroExtents(path, { format, ...opts }), virtualSize, blockSize);
  const blocks: Buffer[] = new Array(total);
  const toRead: number[] = [];
  for (let i = 0; i < total; i++) {
    if (zeros.has(i)) blocks[i] = zeroBlockDigest(blockLength(i, virtualSize, blockSize));
    else toRead.push(i);
  }
  const runs = blocksToExtents(toRead, virtualSize, blockSize);
  const bytesRead = await digestRuns(path, format, runs, blocks, { virtualSize, blockSize }, opts);
  return { digest: merkleRoot(blocks, virtualSize, blockSize), blocks, bytesRead };
}

/**
 * The digest of a chain whose top layer changed only `changed` (its own extents) on top of a
 * parent with digests `parent`: rereads only the touched blocks. Falls back to a full digest
 * when the disk was resized or most of it changed.
 */
export async function updateImageDigest(
  path: string,
  parent: { blocks: readonly Buffer[]; blockSize: number; virtualSize: number },
  changed: readonly Extent[],
  opts: { forceShare?: boolean; fullReadFraction?: number } = {},
): Promise<DiskDigest & { mode: 'incremental' | 'full' }> {
  const { blockSize } = parent;
  const { virtualSize, format } = await imageInfo(path, opts);
  const total = blockCount(virtualSize, blockSize);
  const touched = blocksTouched(changed, virtualSize, blockSize);
  if (
    virtualSize !== parent.virtualSize ||
    parent.blocks.length !== total ||
    touched.length > total * (opts.fullReadFraction ?? 0.5)
  ) {
    return { ...(await digestImage(path, { blockSize, ...opts })), mode: 'full' };
  }
  const blocks = [...parent.blocks];
  const runs = blocksToExtents(touched, virtualSize, blockSize);
  const bytesRead = await digestRuns(path, format, runs, blocks, { virtualSize, blockSize }, opts);
  return { digest: merkleRoot(blocks, virtualSize, blockSize), blocks, bytesRead, mode: 'incremental' };
}
