/**
 * A two-data-disk VM of the lab's own guest (workload running), defined on the lab's primary
 * under a name no runbook uses, so the replication tests neither need nor disturb the lab's VMs.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  hostPathOf,
  hostUri,
  PRODUCTION_NETWORK,
  SITE_GUEST_PATH,
  SITE_STORAGE_PATH,
} from '../../../lab/config.ts';
import { domainXml, labMac, labUuid } from '../../../lab/domain.ts';

const pexec = promisify(execFile);

export interface TestVm {
  name: string;
  /** Disk paths inside the primary site, system disk first. */
  innerDisks: string[];
  /** The same files as the host sees them. */
  hostDisks: string[];
  targets: string[];
  serialLog: string;
}

export async function virshPrimary(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await pexec('virsh', ['-q', '-c', hostUri('primary'), ...args], { timeout: timeoutMs });
  return stdout;
}

export function testVm(name: string): TestVm {
  const inner = path.posix.join(SITE_STORAGE_PATH, 'vms', name);
  const innerDisks = ['system.qcow2', 'data1.qcow2', 'data2.qcow2'].map((d) => path.posix.join(inner, d));
  return {
    name,
    innerDisks,
    hostDisks: innerDisks.map((d) => hostPathOf('primary', d)),
    targets: ['vda', 'vdb', 'vdc'],
    serialLog: hostPathOf('primary', path.posix.join(inner, 'serial.log')),
  };
}

export async function destroyTestVm(vm: TestVm): Promise<void> {
  await virshPrimary(['destroy', vm.name]).catch(() => undefined);
  await virshPrimary(['undefine', vm.name, '--checkpoints-metadata']).catch(() => undefined);
  rmSync(path.dirname(vm.hostDisks[0]!), { recursive: true, force: true });
}

function lastAck(text: string): number {
  let last = 0;
  for (const m of text.matchAll(/^LBACK vm=\S+ seq=(\d+)/gm)) last = Math.max(last, Number(m[1]));
  return last;
}

/** Defines and boots the VM from blank disks; resolves once the workload acknowledged records. */
export async function bootTestVm(
  vm: TestVm,
  opts: { rate?: number; address?: string; guestDir?: string } = {},
): Promise<void> {
  await destroyTestVm(vm);
  const dir = path.dirname(vm.hostDisks[0]!);
  mkdirSync(dir, { recursive: true });
  const sizes = ['32M', '64M', '64M'];
  for (const [i, d] of vm.hostDisks.entries())
    await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', d, sizes[i]!]);
  const xml = domainXml({
    name: vm.name,
    vm: vm.name,
    uuid: labUuid(`primary:${vm.name}`),
    memoryMiB: 128,
    disks: vm.innerDisks,
    address: `${opts.address ?? '192.168.100.90'}/${PRODUCTION_NETWORK.prefix}`,
    mac: labMac(vm.name),
    network: PRODUCTION_NETWORK.name,
    serialLog: path.posix.join(path.posix.dirname(vm.innerDisks[0]!), 'serial.log'),
    serialSocket: path.posix.join(path.posix.dirname(vm.innerDisks[0]!), 'serial.sock'),
    rate: opts.rate ?? 5,
  });
  const xmlFile = path.join(dir, 'domain.xml');
  await import('node:fs/promises').then((fs) => fs.writeFile(xmlFile, withGuest(vm, xml, opts.guestDir)));
  await virshPrimary(['define', xmlFile]);
  await virshPrimary(['start', vm.name]);
  await waitWorkload(vm, 0, 240_000);
}

/**
 * Boots the VM from a guest built elsewhere (e.g. this tree's, when the shared lab still runs an
 * older one): its kernel and initramfs are copied beside the VM's disks, which the domain boots.
 */
function withGuest(vm: TestVm, xml: string, guestDir: string | undefined): string {
  if (guestDir === undefined) return xml;
  const inner = path.posix.dirname(vm.innerDisks[0]!);
  const host = path.dirname(vm.hostDisks[0]!);
  let out = xml;
  for (const f of ['vmlinuz', 'initramfs.cpio.gz']) {
    copyFileSync(path.join(guestDir, f), path.join(host, f));
    out = out.replace(`${SITE_GUEST_PATH}/${f}`, path.posix.join(inner, f));
  }
  return out;
}

/** Waits until the guest acknowledged a record after `afterSeq`; returns the last sequence number. */
export async function waitWorkload(vm: TestVm, afterSeq: number, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(vm.serialLog, 'utf8');
    } catch {
      // not created yet
    }
    const seq = lastAck(text);
    if (seq > afterSeq) return seq;
    await sleep(500);
  }
  throw new Error(`VM ${vm.name} acknowledged no record after ${afterSeq} within ${timeoutMs} ms`);
}
