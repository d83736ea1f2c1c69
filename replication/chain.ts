/**
 * Typed qemu-img helpers for the replica chain: info, unsafe rebase, check, compare, overlay
 * creation and the extents a layer itself holds. Every call is an execFile of qemu-img with an
 * argument array and JSON output where qemu-img offers it.
 */
import { z } from 'zod';
import { ReplicationError } from './errors.ts';
import { runProcess } from './exec.ts';

const QEMU_IMG = 'qemu-img';

const imageInfoSchema = z.object({
  filename: z.string(),
  format: z.string(),
  'virtual-size': z.number(),
  'actual-size': z.number().optional(),
  'cluster-size': z.number().optional(),
  'backing-filename': z.string().optional(),
  'full-backing-filename': z.string().optional(),
  'backing-filename-format': z.string().optional(),
  'dirty-flag': z.boolean().optional(),
});

export interface ImageInfo {
  filename: string;
  format: string;
  virtualSize: number;
  actualSize: number | null;
  clusterSize: number | null;
  /** The backing reference exactly as written in the header (may be relative). */
  backingFilename: string | null;
  fullBackingFilename: string | null;
  backingFormat: string | null;
}

function toInfo(raw: z.infer<typeof imageInfoSchema>): ImageInfo {
  return {
    filename: raw.filename,
    format: raw.format,
    virtualSize: raw['virtual-size'],
    actualSize: raw['actual-size'] ?? null,
    clusterSize: raw['cluster-size'] ?? null,
    backingFilename: raw['backing-filename'] ?? null,
    fullBackingFilename: raw['full-backing-filename'] ?? null,
    backingFormat: raw['backing-filename-format'] ?? null,
  };
}

/** `-U` lets us read an image a running QEMU holds open (the primary's live disk). */
function shareArgs(opts: { forceShare?: boolean }): string[] {
  return opts.forceShare ? ['-U'] : [];
}

async function qemuImgJson(args: string[], path: string): Promise<unknown> {
  const r = await runProcess(QEMU_IMG, args, { errorCode: 'IMAGE_INFO_FAILED' });
  if (r.exitCode !== 0) {
    throw new ReplicationError({
      code: 'IMAGE_INFO_FAILED',
      message: `qemu-img ${args[0]} failed for ${path}: ${r.stderr.trim()}`,
      context: { path, args, exitCode: r.exitCode },
      hint: 'does the file exist, and does every backing file it names exist?',
    });
  }
  return JSON.parse(r.stdout) as unknown;
}

/** The image's own header; does not open its backing file, so it works on a staged layer. */
export async function imageInfo(path: string, opts: { forceShare?: boolean } = {}): Promise<ImageInfo> {
  const raw = await qemuImgJson(['info', ...shareArgs(opts), '--output=json', path], path);
  return toInfo(imageInfoSchema.parse(raw));
}

/** The whole chain, top first; fails if any backing file is missing. */
export async function backingChain(path: string, opts: { forceShare?: boolean } = {}): Promise<ImageInfo[]> {
  const raw = await qemuImgJson(['info', ...shareArgs(opts), '--backing-chain', '--output=json', path], path);
  return z.array(imageInfoSchema).parse(raw).map(toInfo);
}

/**
 * Rewrites only the backing reference in the header (`rebase -u`); the data is untouched, so
 * it is right only when the new backing has the same guest content as the old one.
 */
export async function rebaseUnsafe(
  path: string,
  backing: string | null,
  backingFormat = 'qcow2',
): Promise<void> {
  const args =
    backing === null
      ? ['rebase', '-u', '-f', 'qcow2', '-b', '', path]
      : ['rebase', '-u', '-f', 'qcow2', '-b', backing, '-F', backingFormat, path];
  const r = await runProcess(QEMU_IMG, args, { errorCode: 'IMAGE_REBASE_FAILED' });
  if (r.exitCode !== 0) {
    throw new ReplicationError({
      code: 'IMAGE_REBASE_FAILED',
      message: `qemu-img rebase -u failed for ${path}: ${r.stderr.trim()}`,
      context: { path, backing },
      hint: 'is the image writable and not held by a running QEMU?',
    });
  }
}

/** Rebases only when the header names a different backing file; says whether it changed the file. */
export async function ensureBacking(
  path: string,
  backing: string | null,
  backingFormat = 'qcow2',
): Promise<{ changed: boolean; previous: string | null }> {
  const info = await imageInfo(path);
  const same = info.backingFilename === backing && (backing === null || info.backingFormat === backingFormat);
  if (same) return { changed: false, previous: info.backingFilename };
  await rebaseUnsafe(path, backing, backingFormat);
  return { changed: true, previous: info.backingFilename };
}

export interface CheckResult {
  /** Leaked clusters waste space but are not corruption; qemu-img exits 3 for them. */
  leaks: number;
  corruptions: number;
}

const checkSchema = z.object({
  'check-errors': z.number(),
  corruptions: z.number().optional(),
  leaks: z.number().optional(),
});

/** `qemu-img check`; throws IMAGE_CHECK_FAILED on corruption or when the check could not run. */
export async function checkImage(path: string): Promise<CheckResult> {
  const r = await runProcess(QEMU_IMG, ['check', '-f', 'qcow2', '--output=json', path], {
    errorCode: 'IMAGE_CHECK_FAILED',
  });
  if (r.exitCode === 0 || r.exitCode === 3) {
    const parsed = checkSchema.parse(JSON.parse(r.stdout));
    return { leaks: parsed.leaks ?? 0, corruptions: parsed.corruptions ?? 0 };
  }
  throw new ReplicationError({
    code: 'IMAGE_CHECK_FAILED',
    message: `qemu-img check reports ${r.exitCode === 2 ? 'corruption' : 'an error'} in ${path}`,
    context: { path, exitCode: r.exitCode, stdout: r.stdout.slice(0, 2000), stderr: r.stderr.trim() },
    hint: 'the staged file is damaged; abort the point and transfer it again',
  });
}

/**
 * Guest-visible comparison (never strict mode: allocation differs between a chain and a flat
 * image). Returns the first differing offset, or null when identical.
 */
export async function compareImages(
  a: string,
  b: string,
  opts: { forceShare?: boolean } = {},
): Promise<{ identical: boolean; detail: string }> {
  const r = await runProcess(QEMU_IMG, ['compare', ...shareArgs(opts), a, b], {
    errorCode: 'IMAGE_COMPARE_FAILED',
  });
  if (r.exitCode === 0) return { identical: true, detail: r.stdout.trim() };
  if (r.exitCode === 1) return { identical: false, detail: r.stdout.trim() };
  throw new ReplicationError({
    code: 'IMAGE_COMPARE_FAILED',
    message: `qemu-img compare could not compare ${a} and ${b}: ${r.stderr.trim()}`,
    context: { a, b, exitCode: r.exitCode },
    hint: 'does every file of both chains exist?',
  });
}

async function create(args: string[], path: string): Promise<void> {
  const r = await runProcess(QEMU_IMG, args, { errorCode: 'IMAGE_CREATE_FAILED' });
  if (r.exitCode !== 0) {
    throw new ReplicationError({
      code: 'IMAGE_CREATE_FAILED',
      message: `qemu-img create failed for ${path}: ${r.stderr.trim()}`,
      context: { path, args },
      hint: 'is there space, and does the directory exist?',
    });
  }
}

export async function createImage(path: string, virtualSize: number): Promise<void> {
  await create(['create', '-q', '-f', 'qcow2', path, String(virtualSize)], path);
}

/** An empty qcow2 layer whose reads fall through to `backing`. */
export async function createOverlay(path: string, backing: string, backingFormat = 'qcow2'): Promise<void> {
  await create(['create', '-q', '-f', 'qcow2', '-b', backing, '-F', backingFormat, path], path);
}

/**
 * An empty layer of `virtualSize` over `backing` (a path relative to the layer's directory),
 * written without opening the backing file: what a point adds to a disk that did not change.
 */
export async function createEmptyLayer(path: string, backing: string, virtualSize: number): Promise<void> {
  await create(
    ['create', '-q', '-f', 'qcow2', '-u', '-b', backing, '-F', 'qcow2', path, String(virtualSize)],
    path,
  );
}

/** A value inside qemu's image-opts (`key=value,...`): commas are escaped by doubling them. */
export function imageOptValue(v: string): string {
  return v.replaceAll(',', ',,');
}

export interface Extent {
  start: number;
  length: number;
}

const mapSchema = z.array(
  z.object({
    start: z.number(),
    length: z.number(),
    depth: z.number(),
    zero: z.boolean().optional(),
    data: z.boolean().optional(),
    offset: z.number().optional(),
    present: z.boolean().optional(),
  }),
);

const chainInfoSchema = imageInfoSchema.extend({
  encrypted: z.boolean().optional(),
  'format-specific': z
    .object({ data: z.object({ 'data-file': z.string().optional() }).passthrough().optional() })
    .passthrough()
    .optional(),
});

/** One entry of `qemu-img map --output=json`, as far as a layer's own ranges need it. */
export interface LayerMapEntry {
  start: number;
  length: number;
  depth: number;
  present?: boolean;
}

/**
 * The ranges an image holds in its own layer: depth 0 and present (zeroed clusters included).
 * `present: false` at depth 0 is a hole of an image with no backing file in its header (a backup
 * target, a standalone disk): nothing was written there, so it is not the layer's.
 */
export function ownLayer(entries: readonly LayerMapEntry[]): Extent[] {
  return mergeExtents(entries.filter((e) => e.depth === 0 && e.present !== false));
}

/**
 * Guest ranges a qcow2 layer itself defines (`ownLayer` of its `qemu-img map`): the only ranges
 * whose content can differ from the layer below; for an incremental backup's target, the
 * clusters dirty since its checkpoint. `forceShare` reads an image a running QEMU holds.
 */
export async function layerExtents(path: string, opts: { forceShare?: boolean } = {}): Promise<Extent[]> {
  const args = ['map', ...shareArgs(opts), '-f', 'qcow2', '--output=json', path];
  return ownLayer(mapSchema.parse(await qemuImgJson(args, path)));
}

/** One range of `qemu-img map` over a whole chain: which layer holds it, and where. */
export interface MappedExtent extends Extent {
  /** 0 is the top image, 1 its backing file, and so on. */
  depth: number;
  zero: boolean;
  data: boolean;
  /** Host offset of the data in the file at `depth`; absent for compressed clusters. */
  offset?: number;
}

/** Reads as zeros without holding data (unallocated in every layer, or a zero cluster). */
export function readsZero(e: MappedExtent): boolean {
  return e.zero && !e.data;
}

function mergeExtents(extents: readonly Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const last = out[out.length - 1];
    if (last && last.start + last.length === e.start) last.length += e.length;
    else out.push({ start: e.start, length: e.length });
  }
  return out;
}

async function mapChain(
  path: string,
  opts: { format?: string; forceShare?: boolean },
): Promise<MappedExtent[]> {
  const args = [
    'map',
    ...shareArgs(opts),
    ...(opts.format ? ['-f', opts.format] : []),
    '--output=json',
    path,
  ];
  return mapSchema.parse(await qemuImgJson(args, path)).map((e) => ({
    start: e.start,
    length: e.length,
    depth: e.depth,
    zero: e.zero === true,
    data: e.data === true,
    ...(e.offset === undefined ? {} : { offset: e.offset }),
  }));
}

/** A chain as `qemu-img` lays it out: its files (top first) and where each guest range lives. */
export interface GuestMap {
  virtualSize: number;
  format: string;
  /** Paths of the chain's files, index = depth. */
  files: string[];
  /** Sorted, covering the whole disk. */
  extents: MappedExtent[];
  /**
   * Every data range sits at a host offset of a plain file (no compressed clusters, external
   * data files or encryption), so the guest view can be read from the files themselves.
   */
  direct: boolean;
}

export async function guestMap(path: string, opts: { forceShare?: boolean } = {}): Promise<GuestMap> {
  const raw = await qemuImgJson(['info', ...shareArgs(opts), '--backing-chain', '--output=json', path], path);
  const chain = z.array(chainInfoSchema).parse(raw);
  const top = chain[0];
  if (top === undefined) throw new Error(`qemu-img info returned no image for ${path}`);
  const extents = await mapChain(path, { format: top.format, ...opts });
  const plainFiles = chain.every(
    (c) =>
      (c.format === 'qcow2' || c.format === 'raw') &&
      c.encrypted !== true &&
      c['format-specific']?.data?.['data-file'] === undefined,
  );
  return {
    virtualSize: top['virtual-size'],
    format: top.format,
    files: chain.map((c) => c.filename),
    extents,
    direct:
      plainFiles &&
      extents.every((e) => readsZero(e) || (e.data && e.offset !== undefined && e.depth < chain.length)),
  };
}
