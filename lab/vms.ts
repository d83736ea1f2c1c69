import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostPathOf, type LabSiteName, PRODUCTION_NETWORK, SITE_STORAGE_PATH, sitePaths } from './config.ts';
import { domainXml, labMac, labUuid } from './domain.ts';
import { LabError } from './errors.ts';
import { run } from './run.ts';
import { labVmHardware, readLabRunbook } from './runbook.ts';
import { tryVirsh, virsh } from './site.ts';
import type { LabState, LabVm } from './state.ts';

/**
 * The lab's VMs on the primary. First boot: blank images (`golden/<vm>/blank/`) copied to the
 * site's storage (`/var/lib/lifeboat/storage/vms/<vm>/` inside the site). Once every VM is
 * ready, `captureGolden` saves each VM (memory + disks + serial log) into `golden/<vm>/`, and
 * `reset` restores from there: seconds instead of a TCG boot.
 */

function vmInnerDir(vm: string): string {
  return path.posix.join(SITE_STORAGE_PATH, 'vms', vm);
}

function diskNames(dataDisks: number): string[] {
  return ['system.qcow2', ...Array.from({ length: dataDisks }, (_, i) => `data${i + 1}.qcow2`)];
}

export function planLabVms(runbookFile: string, home?: string): LabVm[] {
  const rb = readLabRunbook(runbookFile);
  return rb.vms.map((v, i) => {
    const hw = labVmHardware(v.name);
    const inner = vmInnerDir(v.name);
    return {
      name: v.name,
      group: v.group,
      site: 'primary' as LabSiteName,
      domain: v.name,
      address: `192.168.100.${10 + i}`,
      dataDisks: hw.dataDisks,
      disks: diskNames(hw.dataDisks).map((d) => hostPathOf('primary', path.posix.join(inner, d), home)),
      serialLog: hostPathOf('primary', path.posix.join(inner, 'serial.log'), home),
    };
  });
}

export function labDomainXml(vm: LabVm): string {
  const hw = labVmHardware(vm.name);
  const inner = vmInnerDir(vm.name);
  return domainXml({
    name: vm.domain,
    vm: vm.name,
    uuid: labUuid(`${vm.site}:${vm.domain}`),
    memoryMiB: hw.memoryMiB,
    disks: diskNames(vm.dataDisks).map((d) => path.posix.join(inner, d)),
    address: `${vm.address}/${PRODUCTION_NETWORK.prefix}`,
    mac: labMac(vm.name),
    network: PRODUCTION_NETWORK.name,
    serialLog: path.posix.join(inner, 'serial.log'),
    serialSocket: path.posix.join(inner, 'serial.sock'),
    rate: hw.rate,
  });
}

function goldenDir(vm: LabVm, home?: string): string {
  return path.join(sitePaths(vm.site, home).golden, vm.name);
}

function blankDir(vm: LabVm, home?: string): string {
  return path.join(goldenDir(vm, home), 'blank');
}

function savedStateFile(vm: LabVm, home?: string): string {
  return path.join(goldenDir(vm, home), 'state.save');
}

/** True once `captureGolden` completed for the VM. */
export function hasGolden(vm: LabVm, home?: string): boolean {
  return existsSync(path.join(goldenDir(vm, home), 'captured'));
}

/** Creates the VM's blank images once (qcow2; the guest formats its system disk). */
export async function ensureBlank(vm: LabVm, home?: string): Promise<void> {
  const hw = labVmHardware(vm.name);
  const dir = blankDir(vm, home);
  mkdirSync(dir, { recursive: true });
  for (const [i, name] of diskNames(vm.dataDisks).entries()) {
    const file = path.join(dir, name);
    if (existsSync(file)) continue;
    const size = i === 0 ? hw.systemDiskMiB : hw.dataDiskMiB;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', `${file}.tmp`, `${size}M`]);
    await run('mv', [`${file}.tmp`, file]);
  }
}

/** Redefines the domain from scratch (no snapshot or checkpoint metadata survives). */
async function redefine(vm: LabVm, home?: string): Promise<void> {
  await undefineDomain(vm.site, vm.domain, home);
  const xmlFile = path.join(sitePaths(vm.site, home).root, `domain-${vm.domain}.xml`);
  writeFileSync(xmlFile, labDomainXml(vm));
  await virsh(vm.site, ['define', xmlFile], home);
}

function copyVmFiles(vm: LabVm, fromDir: string, withSerial: boolean): void {
  const dir = path.dirname(vm.disks[0]!);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [i, name] of diskNames(vm.dataDisks).entries())
    copyFileSync(path.join(fromDir, name), vm.disks[i]!);
  if (withSerial) copyFileSync(path.join(fromDir, 'serial.log'), vm.serialLog);
  else writeFileSync(vm.serialLog, '');
}

/** First boot: blank disks, an empty serial log, a fresh definition (started by `startVm`). */
export async function createVmFromBlank(vm: LabVm, home?: string): Promise<void> {
  await ensureBlank(vm, home);
  await undefineDomain(vm.site, vm.domain, home);
  copyVmFiles(vm, blankDir(vm, home), false);
  await redefine(vm, home);
}

/**
 * Saves a running, ready VM as the lab's golden state: memory (`virsh save`, which stops it with
 * its disks quiescent), then its disks and serial log; then resumes it from that very state.
 */
export async function captureGolden(vm: LabVm, home?: string): Promise<void> {
  const dir = goldenDir(vm, home);
  rmSync(path.join(dir, 'captured'), { force: true });
  const save = savedStateFile(vm, home);
  rmSync(save, { force: true });
  await virsh(vm.site, ['save', vm.domain, save], home, 120_000);
  for (const [i, name] of diskNames(vm.dataDisks).entries()) copyFileSync(vm.disks[i]!, path.join(dir, name));
  copyFileSync(vm.serialLog, path.join(dir, 'serial.log'));
  writeFileSync(path.join(dir, 'captured'), `${new Date().toISOString()}\n`);
  await virsh(vm.site, ['restore', save], home, 120_000);
}

/** Reset: disks and serial log from the golden copy, a fresh definition, memory restored. */
export async function restoreGolden(vm: LabVm, home?: string): Promise<void> {
  await undefineDomain(vm.site, vm.domain, home);
  copyVmFiles(vm, goldenDir(vm, home), true);
  await redefine(vm, home);
  await virsh(vm.site, ['restore', savedStateFile(vm, home)], home, 120_000);
}

/** Destroys and undefines a domain with its snapshot/checkpoint metadata; absent is fine. */
export async function undefineDomain(site: LabSiteName, domain: string, home?: string): Promise<void> {
  await tryVirsh(site, ['destroy', domain], home, 30_000);
  const r = await tryVirsh(
    site,
    ['undefine', domain, '--snapshots-metadata', '--checkpoints-metadata', '--managed-save', '--nvram'],
    home,
  );
  if (r.code !== 0 && !/failed to get domain|Domain not found/i.test(r.stderr)) {
    // Older flags may be refused for a domain without such metadata; try the plain form.
    await tryVirsh(site, ['undefine', domain], home);
  }
}

export async function startVm(vm: LabVm, home?: string): Promise<void> {
  const state = await tryVirsh(vm.site, ['domstate', vm.domain], home);
  if (state.stdout.trim() === 'running') return;
  await virsh(vm.site, ['start', vm.domain], home);
}

/** Serial lines of a VM (host path of its log). */
export function serialText(vm: LabVm): string {
  try {
    return readFileSync(vm.serialLog, 'utf8');
  } catch {
    return '';
  }
}

/** The last sequence number the guest acknowledged on its serial console (0 when none). */
export function lastAckedSeq(serial: string): number {
  let last = 0;
  for (const m of serial.matchAll(/^LBACK vm=\S+ seq=(\d+)/gm)) last = Math.max(last, Number(m[1]));
  return last;
}

/**
 * Ready = the guest printed its readiness line, acknowledged a record after `afterSeq` (the
 * workload runs), and its agent answers.
 */
export async function waitVmReady(
  vm: LabVm,
  timeoutMs: number,
  home?: string,
  afterSeq = 0,
): Promise<{ readyMs: number }> {
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  let phase = 'serial';
  while (Date.now() < deadline) {
    const text = serialText(vm);
    if (phase === 'serial' && text.includes(`LIFEBOAT-READY vm=${vm.name}`) && lastAckedSeq(text) > afterSeq)
      phase = 'agent';
    if (phase === 'agent') {
      const r = await tryVirsh(
        vm.site,
        ['qemu-agent-command', vm.domain, '{"execute":"guest-ping"}', '--timeout', '2'],
        home,
        10_000,
      );
      if (r.code === 0) return { readyMs: Date.now() - t0 };
    }
    await sleep(200);
  }
  throw new LabError(
    'VM_NOT_READY',
    `VM ${vm.name} was not ready within ${Math.round(timeoutMs / 1000)} s (stuck at ${phase})`,
    { vm: vm.name, site: vm.site, serial: vm.serialLog },
    'read the serial log; `lifeboat lab status` shows the domain state',
  );
}

export function vmsOf(state: LabState, site: LabSiteName): LabVm[] {
  return state.vms.filter((v) => v.site === site);
}
