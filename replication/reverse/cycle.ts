/**
 * Reverse cycles: after the first reprotect, each one ships only what the active site wrote
 * since the previous one. The active site keeps, per VM, a libvirt checkpoint (a persistent dirty
 * bitmap on each failover overlay) taken with every reverse backup, and a record of the one the
 * old primary is known to hold (`<storage>/reprotect/<vm>/reverse.json`, written once the old
 * primary applied that cycle). The next running cycle is a libvirt incremental backup from it:
 * its target holds exactly the clusters dirty since (libvirt makes the live disk its backing
 * file, so they are the target's own layer). A stopped VM's bitmaps are read from the overlay.
 * Anything that does not line up (no record, another point or overlay, the old primary's last
 * reprotect not the recorded one, the checkpoint gone) falls back to the overlay's whole set, and
 * the reason travels with the result.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type Extent, layerExtents } from '../chain.ts';
import { abortStaleBackup, deleteCheckpoint, listCheckpoints, runOnlineBackup } from '../export/online.ts';
import type { VirshTarget } from '../export/virsh.ts';
import { exists, writeFileAtomic } from '../fsutil.ts';
import { dirtySince } from './ranges.ts';

/** The checkpoint name prefix of reverse cycles (the forward direction's are `lb-<n>` at the primary). */
export const REVERSE_CHECKPOINT_PREFIX = 'lb-reverse-';

const reverseRecordSchema = z.object({
  version: z.literal(1),
  /** The reprotect whose delta the old primary applied last. */
  operationId: z.string(),
  pointId: z.string().nullable(),
  /** Per disk target, the overlay the checkpoint lives on. */
  images: z.record(z.string(), z.string()),
  /** What the old primary holds: everything before this checkpoint. */
  checkpoint: z.string(),
  at: z.string(),
});

export type ReverseRecord = z.infer<typeof reverseRecordSchema>;

export function reverseRecordPath(storage: string, vm: string): string {
  return join(storage, 'reprotect', vm, 'reverse.json');
}

export async function readReverseRecord(storage: string, vm: string): Promise<ReverseRecord | null> {
  const file = reverseRecordPath(storage, vm);
  if (!(await exists(file))) return null;
  const parsed = reverseRecordSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  return parsed.success ? parsed.data : null;
}

export async function writeReverseRecord(storage: string, vm: string, r: ReverseRecord): Promise<void> {
  await writeFileAtomic(reverseRecordPath(storage, vm), JSON.stringify(reverseRecordSchema.parse(r)));
}

/**
 * The checkpoint this cycle may count from, or why it may not: the record must be for the same
 * point and overlays, and the old primary's last applied reprotect must be the recorded one.
 * Pure.
 */
export function reverseBase(
  record: ReverseRecord | null,
  now: { pointId: string | null; images: Record<string, string>; lastReprotect?: string },
): { checkpoint: string } | { reason: string } {
  if (record === null) return { reason: 'no earlier reverse cycle recorded at this site' };
  if (record.pointId !== now.pointId)
    return { reason: `the last reverse cycle was from point ${record.pointId}, not ${now.pointId}` };
  const targets = Object.keys(now.images);
  const moved = targets.filter((t) => record.images[t] !== now.images[t]);
  if (moved.length > 0 || Object.keys(record.images).length !== targets.length)
    return {
      reason: `the disks are not the overlays the last reverse cycle read (${moved.join(', ') || 'disk set'})`,
    };
  if (now.lastReprotect !== record.operationId)
    return {
      reason: `the old primary's last applied reprotect is ${now.lastReprotect ?? 'unknown'}, this site's checkpoint follows ${record.operationId}`,
    };
  return { checkpoint: record.checkpoint };
}

export interface ReverseChanges {
  /** Per disk target: the ranges written in the window the delta covers. */
  changed: Map<string, Extent[]>;
  /** Counted from this checkpoint (absent: everything since the failover). */
  since?: string;
  /** Why everything since the failover, when it is. */
  sinceFailover?: string;
  /** The checkpoint this cycle took (a running VM). */
  checkpoint?: string;
}

/**
 * Takes a reverse cycle's point in time and says what changed in it: a running VM gets a push
 * backup into `snaps` with a new checkpoint (incremental from the base when there is one, and
 * the old primary wrote nothing since its last reprotect, else full); a stopped VM's bitmaps
 * since the base are read from its overlays. Without a base, the overlays' own clusters (read
 * after the backup began: a superset).
 */
export async function takeReverseChanges(
  deps: { virsh: VirshTarget; storage: string; site: string; heartbeat: () => void },
  input: {
    operationId: string;
    checkpoint: string;
    vm: string;
    pointId: string | null;
    fullReason?: string;
    lastReprotect?: string;
    /** The old primary wrote after its last reprotect (ranges to ship from the same point in time). */
    divergent: boolean;
  },
  disks: ReadonlyArray<{ target: string; source: string }>,
  running: boolean,
  snaps: ReadonlyMap<string, string>,
  stagingDir: string,
): Promise<ReverseChanges> {
  const { virsh: t, heartbeat } = deps;
  const images = Object.fromEntries(disks.map((d) => [d.target, d.source]));
  let base: { checkpoint: string } | { reason: string } =
    input.fullReason !== undefined
      ? { reason: input.fullReason }
      : reverseBase(await readReverseRecord(deps.storage, input.vm), {
          pointId: input.pointId,
          images,
          ...(input.lastReprotect === undefined ? {} : { lastReprotect: input.lastReprotect }),
        });
  const overlays = async (reason: string): Promise<ReverseChanges> => {
    const changed = new Map<string, Extent[]>();
    if (input.fullReason === undefined)
      for (const d of disks) changed.set(d.target, await layerExtents(d.source, { forceShare: true }));
    return { changed, sinceFailover: reason };
  };
  if (!running) {
    if ('reason' in base) return overlays(base.reason);
    const changed = new Map<string, Extent[]>();
    for (const d of disks) {
      const dirty = await dirtySince(d.source, base.checkpoint);
      if (!dirty.ok) return overlays(dirty.reason);
      changed.set(d.target, dirty.extents);
    }
    return { changed, since: base.checkpoint };
  }
  // A backup job or this cycle's checkpoint left by a killed attempt: its bitmap merges into the
  // previous checkpoint's when deleted, so nothing written since is forgotten.
  await abortStaleBackup(t, input.vm);
  const existing = await listCheckpoints(t, input.vm);
  if (existing.includes(input.checkpoint)) await deleteCheckpoint(t, input.vm, input.checkpoint);
  if ('checkpoint' in base && !existing.includes(base.checkpoint))
    base = { reason: `checkpoint ${base.checkpoint} of ${input.vm} is gone at site ${deps.site}` };
  if ('checkpoint' in base && input.divergent)
    base = {
      reason: `the old primary wrote after its last reprotect: its ranges need a full point-in-time copy`,
    };
  const backup = (from: string | null) =>
    runOnlineBackup(t, {
      domain: input.vm,
      checkpoint: input.checkpoint,
      from,
      files: snaps,
      stagingDir,
      freeze: false,
      heartbeat,
    });
  if ('checkpoint' in base) {
    try {
      await backup(base.checkpoint);
      const changed = new Map<string, Extent[]>();
      for (const d of disks)
        changed.set(d.target, await layerExtents(snaps.get(d.target)!, { forceShare: true }));
      return { changed, since: base.checkpoint, checkpoint: input.checkpoint };
    } catch (err) {
      base = { reason: `the incremental backup from ${base.checkpoint} failed: ${(err as Error).message}` };
      await abortStaleBackup(t, input.vm);
      if ((await listCheckpoints(t, input.vm)).includes(input.checkpoint))
        await deleteCheckpoint(t, input.vm, input.checkpoint);
      for (const f of snaps.values()) await rm(f, { force: true });
    }
  }
  await backup(null);
  return { ...(await overlays(base.reason)), checkpoint: input.checkpoint };
}
