/**
 * The libvirt qemu hook that holds a site's fence in libvirt itself (deploy/libvirt-hooks/qemu):
 * a fenced VM does not start at the site whoever asks (`virsh start`, autostart), not only
 * through Lifeboat's driver. It reads the fence records drivers/fence-record.ts writes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../platform/home.ts';

export const QEMU_HOOK_SOURCE = path.join(REPO_ROOT, 'deploy', 'libvirt-hooks', 'qemu');

/** The hook's text for a site whose storage is `storage` (an absolute path without quotes or spaces). */
export function qemuHookScript(storage: string): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(storage))
    throw new Error(`unsafe storage path for the qemu hook: ${storage}`);
  const text = readFileSync(QEMU_HOOK_SOURCE, 'utf8');
  return text.replace(/^STORAGE=.*$/m, `STORAGE=${storage}`);
}
