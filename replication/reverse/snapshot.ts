/**
 * A point-in-time copy of a running VM's disks for reprotect: a libvirt push-mode full backup
 * with no checkpoint (none is left behind to undefine later). The point in time is fixed when
 * the job starts; the guest keeps writing while QEMU copies (copy-before-write keeps the old data).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupXml } from '../export/domain.ts';
import { ExportError } from '../export/errors.ts';
import { abortStaleBackup, parseJobInfo } from '../export/online.ts';
import { type VirshTarget, virsh } from '../export/virsh.ts';

export async function backupRunningDisks(
  t: VirshTarget,
  domain: string,
  files: ReadonlyMap<string, string>,
  dir: string,
  opts: { timeoutMs?: number; heartbeat?: () => void } = {},
): Promise<{ startedAt: string }> {
  // A backup job left by a killed attempt would refuse this one.
  await abortStaleBackup(t, domain);
  const xml = join(dir, 'backup.xml');
  await writeFile(xml, backupXml(null, files));
  await virsh(t, ['backup-begin', domain, '--backupxml', xml], { domain });
  const startedAt = new Date().toISOString();
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  for (;;) {
    opts.heartbeat?.();
    const now = parseJobInfo(await virsh(t, ['domjobinfo', domain], { domain }));
    if ((now['Job type'] ?? 'None') === 'None') break;
    if (Date.now() > deadline) {
      await virsh(t, ['domjobabort', domain], { domain }).catch(() => undefined);
      throw new ExportError({
        code: 'BACKUP_TIMEOUT',
        message: `the reprotect backup of ${domain} did not finish in time`,
        context: { domain },
        hint: 'the disk may be very slow; the job was aborted',
        retryable: true,
      });
    }
    await sleep(100);
  }
  const done = parseJobInfo(await virsh(t, ['domjobinfo', domain, '--completed'], { domain }));
  if (done['Job type'] !== 'Completed') {
    throw new ExportError({
      code: 'BACKUP_FAILED',
      message: `the reprotect backup of ${domain} ended as ${done['Job type'] ?? 'unknown'}${done['Error message'] ? `: ${done['Error message']}` : ''}`,
      context: { domain },
      hint: 'see the site libvirt log',
      retryable: true,
    });
  }
  return { startedAt };
}
