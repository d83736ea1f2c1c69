/**
 * Per-call latency of the libvirt driver's common operations against the lab's secondary site
 * (real libvirtd, real TCG guests), with 1 and then 6 bench VMs running. The lab must be up
 * (`npx lifeboat lab up`); bench VMs are `drvbench-*` and are removed afterwards.
 * Figures (median, p95 in ms) go to bench/results/driver.json.
 *
 * Another libvirt can be measured instead (e.g. while the lab is busy with other tests):
 * DRIVER_BENCH_URI, DRIVER_BENCH_STORAGE (a host directory), DRIVER_BENCH_GUEST (a directory
 * with the lab guest's vmlinuz and initramfs.cpio.gz); it needs a network named `production`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { promisify } from 'node:util';
import { createLibvirtDriver, type LibvirtDriver } from '../drivers/libvirt/index.ts';
import type { DomainSpec } from '../drivers/types.ts';
import { hostPathOf, hostUri, SITE_GUEST_PATH, SITE_STORAGE_PATH } from '../lab/config.ts';

const exec = promisify(execFile);
const SITE = 'secondary' as const;
const OTHER = process.env.DRIVER_BENCH_URI;
const STORAGE = OTHER ? (process.env.DRIVER_BENCH_STORAGE ?? '/tmp') : SITE_STORAGE_PATH;
const GUEST = OTHER ? (process.env.DRIVER_BENCH_GUEST ?? SITE_GUEST_PATH) : SITE_GUEST_PATH;
const hostPath = (p: string) => (OTHER ? p : hostPathOf(SITE, p));
const DIR = `${STORAGE}/drvbench`;
const READ_SAMPLES = 30;
const CYCLE_SAMPLES = 5;
const VM_COUNTS = [1, 6];

interface Figure {
  n: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
}

function figure(samples: number[]): Figure {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, medianMs: r(at(0.5)), p95Ms: r(at(0.95)), maxMs: r(s.at(-1) ?? 0) };
}

async function sample(n: number, fn: () => Promise<unknown>): Promise<Figure> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return figure(out);
}

function spec(name: string): DomainSpec {
  return {
    name,
    memoryMiB: 128,
    vcpus: 1,
    boot: {
      kernel: `${GUEST}/vmlinuz`,
      initrd: `${GUEST}/initramfs.cpio.gz`,
      cmdline: `console=ttyS0 quiet panic=-1 lb.vm=${name}`,
    },
    disks: [{ target: 'vda', source: `${DIR}/${name}.qcow2`, format: 'qcow2' }],
    nics: [{ network: 'production' }],
    serialLog: `${DIR}/${name}.serial.log`,
  };
}

async function ensureVm(driver: LibvirtDriver, name: string): Promise<void> {
  if ((await driver.vmState(name)) === 'missing') {
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', hostPath(`${DIR}/${name}.qcow2`), '64M']);
    await driver.defineDomain(spec(name));
  }
  const r = await driver.startVm(name);
  if (r.started) {
    await driver.waitSerial(name, `^LIFEBOAT-READY vm=${name} `, {
      timeoutMs: 300_000,
      fromOffset: r.serialOffset,
    });
  }
}

async function measure(driver: LibvirtDriver, vms: string[]): Promise<Record<string, Figure>> {
  const vm = vms[0]!;
  const out: Record<string, Figure> = {};
  out.vmState = await sample(READ_SAMPLES, () => driver.vmState(vm));
  out.inspectVm = await sample(READ_SAMPLES, () => driver.inspectVm(vm));
  out.domainDefinition = await sample(READ_SAMPLES, () => driver.domainDefinition(vm));
  out.listVms = await sample(READ_SAMPLES, () => driver.listVms());
  out.agentExec = await sample(READ_SAMPLES, () =>
    driver.agentExec(vm, ['/bin/true'], { timeoutMs: 30_000 }),
  );
  out.qmpQueryStatus = await sample(READ_SAMPLES, () => driver.qmp(vm, 'query-status'));
  out.readSerial = await sample(READ_SAMPLES, () => driver.readSerial(vm));
  out.listNetworks = await sample(READ_SAMPLES, () => driver.listNetworks());
  out.hostInfo = await sample(READ_SAMPLES, () => driver.hostInfo());
  out.storageInfo = await sample(READ_SAMPLES, () => driver.storageInfo(STORAGE));
  out.imageInfo = await sample(READ_SAMPLES, () => driver.imageInfo(`${DIR}/${vm}.qcow2`));
  out.startVmAlreadyRunning = await sample(READ_SAMPLES, () => driver.startVm(vm));

  // Lifecycle on a separate VM so the others keep running: start (until QEMU runs, not the
  // guest), destroy, and an agent shutdown of a booted guest.
  const cyc = 'drvbench-cycle';
  await ensureVm(driver, cyc);
  await driver.destroyVm(cyc);
  const starts: number[] = [];
  const destroys: number[] = [];
  for (let i = 0; i < CYCLE_SAMPLES; i++) {
    let t0 = performance.now();
    await driver.startVm(cyc);
    starts.push(performance.now() - t0);
    t0 = performance.now();
    await driver.destroyVm(cyc);
    destroys.push(performance.now() - t0);
  }
  out.startVm = figure(starts);
  out.destroyVm = figure(destroys);
  const shutdowns: number[] = [];
  for (let i = 0; i < 3; i++) {
    await ensureVm(driver, cyc);
    const t0 = performance.now();
    const r = await driver.shutdownVm(cyc, { deadlineMs: 60_000 });
    shutdowns.push(performance.now() - t0);
    if (r.method !== 'agent') throw new Error(`expected an agent shutdown, got ${r.method}`);
  }
  out.shutdownVmAgent = figure(shutdowns);
  await driver.undefineVm(cyc);
  return out;
}

async function main(): Promise<void> {
  const driver = createLibvirtDriver({
    site: OTHER ? 'bench' : SITE,
    uri: OTHER ?? hostUri(SITE),
    storage: STORAGE,
    hostPath,
  });
  await driver.listNetworks().catch((err: unknown) => {
    throw new Error(
      `the lab's secondary site is not reachable; run \`npx lifeboat lab up\` first (${String(err)})`,
    );
  });
  const hostDir = hostPath(DIR);
  await mkdir(hostDir, { recursive: true });
  const names = Array.from({ length: Math.max(...VM_COUNTS) }, (_, i) => `drvbench-${i + 1}`);
  const runs: Record<string, Record<string, Figure>> = {};
  const bootMs: Record<string, number> = {};
  try {
    for (const count of VM_COUNTS) {
      const t0 = performance.now();
      await Promise.all(names.slice(0, count).map((n) => ensureVm(driver, n)));
      bootMs[`${count}vm`] = Math.round(performance.now() - t0);
      console.log(`bench driver: ${count} VM(s) running, measuring`);
      runs[`${count}vm`] = await measure(driver, names.slice(0, count));
    }
    // A site with no daemon behind its socket: how fast the driver says so.
    const dead = createLibvirtDriver({
      site: 'dead',
      uri: 'qemu:///system?socket=/nonexistent/sock',
      storage: '/',
    });
    runs.deadSite = {
      listVmsUnreachable: await sample(READ_SAMPLES, () => dead.listVms().catch((e: unknown) => e)),
    };
  } finally {
    for (const n of [...names, 'drvbench-cycle']) {
      await driver.destroyVm(n).catch(() => undefined);
      await driver.undefineVm(n).catch(() => undefined);
    }
    await rm(hostDir, { recursive: true, force: true });
  }
  const result = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, accel: 'TCG (no KVM)', loadAverage1mAtEnd: loadavg()[0] },
    site: OTHER
      ? `a private libvirtd in its own network and mount namespaces (${OTHER}), the lab being busy with other tests`
      : `lab ${SITE} (libvirtd in its own namespaces, reached over its unix socket from the host)`,
    guest: 'lab guest: busybox initramfs + qemu-ga, 128 MiB, 1 vCPU',
    samples: { reads: READ_SAMPLES, lifecycle: CYCLE_SAMPLES, agentShutdown: 3 },
    notes: [
      'startVm is until QEMU runs (virsh start returns), not until the guest is ready',
      'shutdownVmAgent: from the shutdown call until the domain is shut off (guest already booted)',
      `time to bring the bench VMs up to ready, ms: ${JSON.stringify(bootMs)}`,
    ],
    runs,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/driver.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result.runs, null, 1));
}

await main();
