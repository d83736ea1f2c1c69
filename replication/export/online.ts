/**
 * The running-VM export: a libvirt checkpoint (persistent dirty bitmaps) taken together with a
 * push-mode backup, full or incremental from an earlier checkpoint, written by QEMU itself into
 * the export staging directory. The checkpoint fixes the point in time when the job starts;
 * the guest may keep writing while the job copies (copy-before-write keeps the old data).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupXml, checkpointXml } from './domain.ts';
import { ExportError } from './errors.ts';
import { NO_CHECKPOINT, SessionCallError } from './libvirt-session.ts';
import { type FreezeStatus, type ThawOutcome, thawUntilThawed } from './thaw.ts';
import { tryVirsh, type VirshTarget, virsh } from './virsh.ts';

/** `virsh domjobinfo` as key/value pairs ("Job type" -> "Unbounded", ...). */
export function parseJobInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The domain's checkpoint names, sorted by name ignoring case (as virsh lists them). */
export function listCheckpoints(t: VirshTarget, domain: string): Promise<string[]> {
  return t.session.call<string[]>({ op: 'checkpoints', domain });
}

/**
 * Deletes a checkpoint, one already gone included. Without `metadataOnly` its bitmap merges
 * into its parent's, so no change is forgotten (libvirt does that only while the domain runs).
 */
export async function deleteCheckpoint(
  t: VirshTarget,
  domain: string,
  name: string,
  o: { metadataOnly?: boolean } = {},
): Promise<void> {
  try {
    await t.session.call({ op: 'checkpoint-delete', domain, name, ...o });
  } catch (e) {
    if (!(e instanceof SessionCallError && e.libvirtCode === NO_CHECKPOINT)) throw e;
  }
}

/** Dirty bytes per disk since `checkpoint` (what an incremental from it must copy). */
export async function checkpointDirtyBytes(
  t: VirshTarget,
  domain: string,
  checkpoint: string,
): Promise<number> {
  const xml = await t.session.call<string>({ op: 'checkpoint-xml', domain, name: checkpoint, size: true });
  let total = 0;
  for (const m of xml.matchAll(/<disk\b[^>]*\bsize='(\d+)'/g)) total += Number(m[1]);
  return total;
}

/** Ends a backup job left running by an earlier, killed attempt (only a backup: never a migration). */
export async function abortStaleBackup(t: VirshTarget, domain: string): Promise<boolean> {
  const info = parseJobInfo((await tryVirsh(t, ['domjobinfo', domain])).stdout);
  const type = info['Job type'] ?? 'None';
  if (type === 'None' || info.Operation !== 'Backup') return false;
  await tryVirsh(t, ['domjobabort', domain]);
  return true;
}

async function waitBackup(
  t: VirshTarget,
  domain: string,
  timeoutMs: number,
  heartbeat: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    heartbeat();
    const now = parseJobInfo(await virsh(t, ['domjobinfo', domain], { domain }));
    if ((now['Job type'] ?? 'None') === 'None') break;
    if (Date.now() > deadline) {
      await tryVirsh(t, ['domjobabort', domain]);
      throw new ExportError({
        code: 'BACKUP_TIMEOUT',
        message: `the backup of ${domain} did not finish within ${timeoutMs} ms`,
        context: { domain },
        hint: 'the disk may be very slow; the job was aborted',
        retryable: true,
      });
    }
    await sleep(100);
  }
  const done = parseJobInfo(await virsh(t, ['domjobinfo', domain, '--completed'], { domain }));
  if (done['Job type'] !== 'Completed' || (done.Operation !== undefined && done.Operation !== 'Backup')) {
    throw new ExportError({
      code: 'BACKUP_FAILED',
      message: `the backup job of ${domain} ended as ${done['Job type'] ?? 'unknown'}${done['Error message'] ? `: ${done['Error message']}` : ''}`,
      context: { domain, job: done },
      hint: 'see the site libvirt log; the cycle will ship a full copy if the bitmap is unusable',
      retryable: true,
    });
  }
}

export interface OnlineBackupInput {
  domain: string;
  checkpoint: string;
  /** Incremental from this checkpoint; null for a full copy. */
  from: string | null;
  /** Disk target -> output file (inside the site). */
  files: ReadonlyMap<string, string>;
  stagingDir: string;
  /** Freeze guest filesystems through the agent around the checkpoint. */
  freeze: boolean;
  timeoutMs?: number;
  heartbeat?: () => void;
  /** Told how each thaw ended (a metric, a log line); a guest left frozen does not stop the backup. */
  onThaw?: (domain: string, outcome: ThawOutcome) => void;
}

export interface OnlineBackupResult {
  checkpointAt: string;
  /** Set when a freeze was asked for and did not happen (the point is crash-consistent). */
  freezeFailed?: string;
  /** Set when the guest was frozen and every thaw failed: it may still be frozen. */
  guestFrozen?: string;
}

/** What the guest agent says of the filesystems: thawed, frozen, or no answer. */
export async function freezeStatus(t: VirshTarget, domain: string): Promise<FreezeStatus> {
  const r = await tryVirsh(t, ['qemu-agent-command', domain, '{"execute":"guest-fsfreeze-status"}']);
  if (r.exitCode !== 0) return 'unknown';
  const m = /"return"\s*:\s*"(thawed|frozen)"/.exec(r.stdout);
  return m === null ? 'unknown' : (m[1] as 'thawed' | 'frozen');
}

export async function runOnlineBackup(t: VirshTarget, i: OnlineBackupInput): Promise<OnlineBackupResult> {
  const backupFile = join(i.stagingDir, 'backup.xml');
  const cpFile = join(i.stagingDir, 'checkpoint.xml');
  await writeFile(backupFile, backupXml(i.from, i.files));
  await writeFile(cpFile, checkpointXml(i.checkpoint, [...i.files.keys()]));
  let freezeFailed: string | undefined;
  let frozen = false;
  if (i.freeze) {
    const r = await tryVirsh(t, ['domfsfreeze', i.domain]);
    if (r.exitCode === 0) frozen = true;
    else freezeFailed = `guest agent fsfreeze failed: ${r.stderr.trim() || r.stdout.trim()}`;
  }
  let checkpointAt: string;
  let thaw: ThawOutcome | undefined;
  try {
    await virsh(t, ['backup-begin', i.domain, '--backupxml', backupFile, '--checkpointxml', cpFile], {
      domain: i.domain,
      checkpoint: i.checkpoint,
    });
    checkpointAt = new Date().toISOString();
  } finally {
    // The point in time is fixed when the job starts: thaw at once, whatever happened, and
    // keep trying until the guest is thawed or is reported frozen.
    if (frozen) {
      thaw = await thawUntilThawed({
        thaw: () => tryVirsh(t, ['domfsthaw', i.domain]),
        status: () => freezeStatus(t, i.domain),
        ...(i.heartbeat ? { heartbeat: i.heartbeat } : {}),
      });
      i.onThaw?.(i.domain, thaw);
    }
  }
  await waitBackup(t, i.domain, i.timeoutMs ?? 30 * 60_000, i.heartbeat ?? (() => {}));
  return {
    checkpointAt,
    ...(freezeFailed === undefined ? {} : { freezeFailed }),
    ...(thaw?.thawed === false ? { guestFrozen: thaw.detail ?? 'the guest may still be frozen' } : {}),
  };
}
