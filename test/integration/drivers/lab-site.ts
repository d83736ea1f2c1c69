/**
 * Helpers for driver tests against the real lab: the lab CLI, a driver for a lab site as the
 * host sees it, and a tiny test VM built from the lab's own guest (kernel + initramfs).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import type { DomainSpec } from '../../../drivers/types.ts';
import {
  hostPathOf,
  hostUri,
  type LabSiteName,
  SITE_GUEST_PATH,
  SITE_STORAGE_PATH,
} from '../../../lab/config.ts';

const exec = promisify(execFile);

/** Runs `lifeboat lab <args>` and returns its stdout. */
export async function labCli(args: string[], timeoutMs = 300_000): Promise<string> {
  const { stdout } = await exec(process.execPath, ['bin/lifeboat.mjs', 'lab', ...args], {
    cwd: process.cwd(),
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

interface LabStatus {
  up: boolean;
  ready: boolean;
  sites: Record<LabSiteName, { killed: boolean; libvirtd?: { running: boolean } }>;
}

export async function labStatus(): Promise<LabStatus> {
  return JSON.parse(await labCli(['status', '--json'], 60_000)) as LabStatus;
}

/** Brings the lab up (idempotent) unless it is up with live daemons on both sites. */
export async function ensureLab(): Promise<void> {
  const s = await labStatus().catch(() => undefined);
  const healthy =
    s?.up === true &&
    s.ready === true &&
    (['primary', 'secondary'] as const).every(
      (x) => !s.sites[x].killed && s.sites[x].libvirtd?.running === true,
    );
  if (!healthy) await labCli(['up', '--no-workers'], 600_000);
}

export function labDriver(site: LabSiteName, callTimeoutMs?: number) {
  return createLibvirtDriver({
    site,
    uri: hostUri(site),
    storage: SITE_STORAGE_PATH,
    hostPath: (p) => hostPathOf(site, p),
    ...(callTimeoutMs ? { callTimeoutMs } : {}),
  });
}

/** Where this file's test VMs keep their disks and logs, inside the site and on the host. */
export const TEST_DIR = `${SITE_STORAGE_PATH}/drvtest`;

export async function prepareTestDir(site: LabSiteName): Promise<string> {
  const host = hostPathOf(site, TEST_DIR);
  await rm(host, { recursive: true, force: true });
  await mkdir(host, { recursive: true });
  return host;
}

/** A blank qcow2 system disk; the lab guest formats it on first boot. */
export async function createDisk(site: LabSiteName, name: string, backing?: string): Promise<string> {
  const inner = `${TEST_DIR}/${name}.qcow2`;
  const args = backing
    ? ['create', '-q', '-f', 'qcow2', '-b', hostPathOf(site, backing), '-F', 'qcow2', hostPathOf(site, inner)]
    : ['create', '-q', '-f', 'qcow2', hostPathOf(site, inner), '64M'];
  await exec('qemu-img', args);
  if (backing) {
    // The overlay must name its backing file as the site sees it.
    await exec('qemu-img', ['rebase', '-u', '-b', backing, '-F', 'qcow2', hostPathOf(site, inner)]);
  }
  return inner;
}

export function testVmSpec(name: string, disk: string, opts: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name,
    memoryMiB: 128,
    vcpus: 1,
    boot: {
      kernel: `${SITE_GUEST_PATH}/vmlinuz`,
      initrd: `${SITE_GUEST_PATH}/initramfs.cpio.gz`,
      cmdline: `console=ttyS0 quiet panic=-1 lb.vm=${name}`,
    },
    disks: [{ target: 'vda', source: disk, format: 'qcow2' }],
    nics: [{ network: 'production' }],
    serialLog: `${TEST_DIR}/${name}.serial.log`,
    ...opts,
  };
}

export const READY = (vm: string) => `^LIFEBOAT-READY vm=${vm} `;
