/**
 * The recovery-point manifest: everything the secondary needs to rebuild a VM as it was at a
 * checkpoint with the primary gone, and to prove the point is intact. One JSON file per point,
 * written last (see store.ts); `schemaVersion` lets later versions read older points.
 */
import { z } from 'zod';
import { CONTENT_DIGEST_ALGORITHM } from './block-digests.ts';
import { ReplicationError } from './errors.ts';

export const MANIFEST_SCHEMA_VERSION = 1;

/** Names used as path components in the store: no separators, no leading dot. */
export const safeNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_", "-"; not starting with "."');

/** Throws BAD_NAME unless `name` is safe as one path component; returns it. */
export function assertSafeName(kind: string, name: string): string {
  if (!safeNameSchema.safeParse(name).success) {
    throw new ReplicationError({
      code: 'BAD_NAME',
      message: `${kind} "${name}" cannot be used as a store path component`,
      context: { kind, name },
      hint: 'use letters, digits, ".", "_" and "-", not starting with "."',
    });
  }
  return name;
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');
const isoTime = z.iso.datetime({ offset: true });

/** A file this point adds, relative to the point's directory. */
export const pointFileSchema = z.object({
  path: safeNameSchema,
  sha256: sha256Hex,
  size: z.number().int().nonnegative(),
});
export type PointFile = z.infer<typeof pointFileSchema>;

export const contentDigestSchema = z.object({
  algorithm: z.literal(CONTENT_DIGEST_ALGORITHM),
  blockSize: z.number().int().positive(),
  virtualSize: z.number().int().nonnegative(),
  root: sha256Hex,
  /** The per-block digest list (32 bytes a block) stored with the point, for resyncs. */
  blocksFile: safeNameSchema,
});

export const diskSchema = z.object({
  target: z.string().regex(/^[a-z][a-z0-9]{0,31}$/, 'a guest device name such as vda'),
  /** 0 for a full copy; parent's position + 1 for an incremental. */
  chainPosition: z.number().int().nonnegative(),
  /** The point holding this disk's previous layer; null for a full copy. */
  parentPointId: safeNameSchema.nullable(),
  /** Why a full copy was shipped (first cycle, chain could not continue, resync). */
  fullReason: z.string().optional(),
  /** The top qcow2 layer of this disk in this point (one of `files`). */
  image: safeNameSchema,
  /** Backing reference written in `image`, relative to the point directory; null when full. */
  backing: z.string().nullable(),
  files: z.array(pointFileSchema).min(1),
  contentDigest: contentDigestSchema,
  virtualSize: z.number().int().nonnegative(),
});
export type ManifestDisk = z.infer<typeof diskSchema>;

export const consistencySchema = z
  .object({
    requested: z.enum(['application', 'crash']),
    achieved: z.enum(['application', 'crash']),
    /** Required when `achieved` is weaker than `requested`: never downgrade silently. */
    reason: z.string().min(1).optional(),
  })
  .refine((c) => c.requested === c.achieved || c.reason !== undefined, {
    message: 'a downgraded consistency needs a reason',
    path: ['reason'],
  });

export const integritySchema = z.object({
  state: z.enum(['verified', 'failed', 'not-yet']),
  at: isoTime.optional(),
  detail: z.string().optional(),
});
export type Integrity = z.infer<typeof integritySchema>;

/**
 * A `data` check's guest command as the primary's fsfreeze hook ran it for this point, or why it
 * did not (no hook in the guest, a freeze that failed, a stopped VM): never silently absent.
 */
export const capturedCommandSchema = z.discriminatedUnion('captured', [
  z.object({
    argv: z.array(z.string()).min(1),
    captured: z.literal(true),
    exitCode: z.number().int(),
    stdout: z.string(),
    /** Set when the output was longer than what is kept (its first bytes are kept). */
    stdoutTruncated: z.boolean().optional(),
    /** When the guest's hook ran it (guest clock), just before the filesystems froze. */
    ranAt: z.string().optional(),
  }),
  z.object({
    argv: z.array(z.string()).min(1),
    captured: z.literal(false),
    reason: z.string().min(1),
  }),
]);
export type CapturedCommand = z.infer<typeof capturedCommandSchema>;

export const manifestSchema = z.object({
  apiVersion: z.literal('lifeboat/v1'),
  kind: z.literal('RecoveryPoint'),
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  pointId: safeNameSchema,
  runbook: z.string().min(1),
  vm: safeNameSchema,
  domain: z.object({
    /** Inactive domain definition (CPU, memory, disks, NICs) as the primary had it. */
    xml: z.string().min(1),
    /**
     * Kernel, initrd and the like, stored with the point by digest; `linkedFrom` names the point
     * whose identical file this one is a hard link of (it was not shipped again).
     */
    bootFiles: z.array(
      pointFileSchema.extend({ role: z.string().min(1), linkedFrom: z.string().optional() }),
    ),
  }),
  disks: z.array(diskSchema).min(1),
  consistency: consistencySchema,
  sourceCheckpoint: z.string().min(1),
  times: z.object({
    checkpointAt: isoTime,
    transferStartedAt: isoTime,
    transferEndedAt: isoTime,
    committedAt: isoTime,
  }),
  /** The workload's last valid record, read offline from the committed point. */
  workload: z.record(z.string(), z.unknown()).optional(),
  /** Outputs of the runbook's `data` commands at the snapshot (absent in older points). */
  commands: z.array(capturedCommandSchema).optional(),
  /**
   * Set when the guest was frozen for this point and every thaw failed: it may still be frozen
   * (the worker's lifeboat_guest_frozen gauge and its alert say so too). Absent: thawed, or not frozen.
   */
  guestFrozen: z.string().min(1).optional(),
  bytesShipped: z.number().int().nonnegative(),
  integrity: integritySchema,
});
export type Manifest = z.infer<typeof manifestSchema>;

export type PointKind = 'full' | 'incremental';

/** A point is full when every disk is a full copy. */
export function pointKind(m: Manifest): PointKind {
  return m.disks.every((d) => d.parentPointId === null) ? 'full' : 'incremental';
}

/** Every file the point's directory must hold, with the digest it must have. */
export function pointFiles(m: Manifest): PointFile[] {
  return [
    ...m.domain.bootFiles.map(({ role: _r, linkedFrom: _l, ...f }) => f),
    ...m.disks.flatMap((d) => d.files),
  ];
}

/** The bytes a point adds to the store: its files less those it shares with an older point. */
export function pointAddedBytes(m: Manifest): number {
  const linked = new Set(m.domain.bootFiles.filter((b) => b.linkedFrom !== undefined).map((b) => b.path));
  return pointFiles(m)
    .filter((f) => !linked.has(f.path))
    .reduce((s, f) => s + f.size, 0);
}

export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ReplicationError({
      code: 'MANIFEST_INVALID',
      message: `${where}: not JSON: ${String(e)}`,
      context: { where },
      hint: 'a manifest is only ever renamed into place complete; this one was edited or damaged',
    });
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ReplicationError({
      code: 'MANIFEST_INVALID',
      message: `${where}: ${issues.join('; ')}`,
      context: { where, issues },
      hint: 'written by a newer Lifeboat, or damaged',
    });
  }
  return r.data;
}

export function serializeManifest(m: Manifest): string {
  return `${JSON.stringify(manifestSchema.parse(m), null, 2)}\n`;
}
