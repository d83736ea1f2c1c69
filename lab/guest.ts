import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { labPaths } from './config.ts';
import { LabError } from './errors.ts';
import { tryRun } from './run.ts';

const GUEST_SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), 'guest');
const GUEST_SOURCES = [
  'build.sh',
  'init.sh',
  'health.sh',
  'shutdown.sh',
  'workload.c',
  '../../guest/fsfreeze-hook',
];

export interface Guest {
  hash: string;
  dir: string;
  kernel: string;
  initrd: string;
  kernelVersion: string;
  /** True when this call built it (the cache was cold). */
  built: boolean;
}

/** The newest Debian kernel in /boot whose modules are installed. */
export function guestKernelVersion(): string {
  const versions = readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(`/lib/modules/${v}/modules.dep`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const newest = versions.at(-1);
  if (!newest) {
    throw new LabError(
      'GUEST_BUILD_FAILED',
      'no kernel with modules in /boot',
      {},
      'run scripts/setup.sh (installs linux-image-amd64)',
    );
  }
  return newest;
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The guest's identity: a hash of every input (kernel, busybox, qemu-ga, the guest sources and hook). */
export function guestHash(kernelVersion: string): string {
  const h = createHash('sha256');
  h.update(`kernel ${kernelVersion} ${sha256File(`/boot/vmlinuz-${kernelVersion}`)}\n`);
  h.update(`busybox ${sha256File('/bin/busybox')}\n`);
  h.update(`qemu-ga ${sha256File('/usr/sbin/qemu-ga')}\n`);
  for (const f of GUEST_SOURCES) h.update(`${f} ${sha256File(path.join(GUEST_SRC, f))}\n`);
  return h.digest('hex').slice(0, 16);
}

/** Builds the guest into `<home>/cache/guest-<hash>/` unless it is already there. */
export async function ensureGuest(home?: string): Promise<Guest> {
  const kernelVersion = guestKernelVersion();
  const hash = guestHash(kernelVersion);
  const dir = path.join(labPaths(home).cacheDir, `guest-${hash}`);
  const kernel = path.join(dir, 'vmlinuz');
  const initrd = path.join(dir, 'initramfs.cpio.gz');
  let built = false;
  if (!existsSync(kernel) || !existsSync(initrd)) {
    const r = await tryRun('bash', [path.join(GUEST_SRC, 'build.sh'), kernelVersion, dir], {
      timeoutMs: 300_000,
    });
    if (r.code !== 0 || !existsSync(kernel) || !existsSync(initrd)) {
      throw new LabError(
        'GUEST_BUILD_FAILED',
        `building the lab guest failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        { dir },
        'run scripts/setup.sh (busybox-static, qemu-guest-agent, linux-image-amd64, cpio, gcc)',
      );
    }
    built = true;
  }
  return { hash, dir, kernel, initrd, kernelVersion, built };
}
