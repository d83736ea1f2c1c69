/**
 * The libvirt driver against the real lab: real libvirtd, real QEMU (TCG), the lab's own guest.
 * Test VMs live on the secondary under `drvtest-*` names, so the lab's VMs are left alone;
 * the last test kills the secondary site and brings it back with `lab up`.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentNotRespondingError,
  InvalidNameError,
  OperationTimedOutError,
  SiteUnreachableError,
  VmNotFoundError,
} from '../../../drivers/errors.ts';
import { domainSpecFromXml } from '../../../drivers/libvirt/index.ts';
import { hostPathOf, hostUri, SITE_STORAGE_PATH } from '../../../lab/config.ts';
import { LibvirtSession, SessionCallError } from '../../../replication/export/libvirt-session.ts';
import { deleteCheckpoint } from '../../../replication/export/online.ts';
import {
  createDisk,
  ensureLab,
  labCli,
  labDriver,
  prepareTestDir,
  READY,
  TEST_DIR,
  testVmSpec,
} from './lab-site.ts';

const site = 'secondary' as const;
const driver = labDriver(site);
const session = new LibvirtSession(hostUri(site));
const A = 'drvtest-a'; // persistent, with guest agent
const B = 'drvtest-b'; // persistent, no guest agent: only a forced stop works
const T = 'drvtest-t'; // transient drill copy of A on the bubble network

async function cleanup(): Promise<void> {
  for (const vm of [A, B, T]) {
    await driver.destroyVm(vm);
    await driver.undefineVm(vm);
  }
}

beforeAll(async () => {
  await ensureLab();
  await cleanup();
  await prepareTestDir(site);
});

afterAll(async () => {
  session.close();
  await cleanup().catch(() => undefined);
  await rm(hostPathOf(site, TEST_DIR), { recursive: true, force: true });
});

describe('libvirt driver on a real site', () => {
  it('defines a VM idempotently and inspects it', async () => {
    const disk = await createDisk(site, A);
    const spec = testVmSpec(A, disk);
    expect(await driver.defineDomain(spec)).toEqual({ name: A, created: true });
    expect(await driver.defineDomain(spec)).toEqual({ name: A, created: false });

    const info = await driver.inspectVm(A);
    expect(info).toMatchObject({ name: A, state: 'shut off', memoryMiB: 128, vcpus: 1, persistent: true });
    expect(info.disks).toEqual([{ target: 'vda', source: disk, format: 'qcow2', device: 'disk' }]);
    expect(info.nics.map((n) => n.network)).toEqual(['production']);
    expect(info.nics[0]?.mac).toMatch(/^52:54:00:/);

    const def = domainSpecFromXml(await driver.domainDefinition(A));
    expect(def).toMatchObject({ name: A, memoryMiB: 128, serialLog: spec.serialLog, guestAgent: true });
    expect((await driver.listVms()).map((v) => v.name)).toContain(A);
  });

  it('disables and enables autostart', async () => {
    await driver.setAutostart(A, true);
    expect((await driver.inspectVm(A)).autostart).toBe(true);
    await driver.setAutostart(A, false);
    expect((await driver.inspectVm(A)).autostart).toBe(false);
  });

  it("the export's long-lived libvirt session answers what virsh answers, and a missing domain is DOMAIN_NOT_FOUND", async () => {
    expect(await session.call({ op: 'state', domain: A })).toBe((await driver.inspectVm(A)).state);
    const xml = await session.call<string>({ op: 'xml', domain: A, inactive: true });
    expect(domainSpecFromXml(xml)).toEqual(domainSpecFromXml(await driver.domainDefinition(A)));
    expect(await session.call({ op: 'checkpoints', domain: A })).toEqual([]);
    const missing = await session.call({ op: 'state', domain: 'drvtest-none' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SessionCallError);
    expect(missing).toMatchObject({ code: 'DOMAIN_NOT_FOUND', retryable: false, libvirtCode: 42 });
    // A checkpoint already gone is not an error to the export's delete (a retried cleanup).
    await deleteCheckpoint({ uri: hostUri(site), session }, A, 'lifeboat-none', { metadataOnly: true });
  });

  it('starts, then says a second start found it running', async () => {
    const r = await driver.startVm(A);
    expect(r).toMatchObject({ started: true, alreadyRunning: false });
    const ready = await driver.waitSerial(A, READY(A), { timeoutMs: 120_000, fromOffset: r.serialOffset });
    expect(ready.line).toContain(`vm=${A}`);
    expect(await driver.startVm(A)).toEqual({ started: false, alreadyRunning: true });
    expect((await driver.inspectVm(A)).state).toBe('running');
    expect(await driver.readSerial(A)).toContain(ready.line);
  });

  it('runs a command through the guest agent with exit code and both outputs', async () => {
    const r = await driver.agentExec(A, ['/bin/sh', '-c', 'echo out-$((6*7)); echo err >&2; exit 3'], {
      timeoutMs: 30_000,
    });
    expect(r).toEqual({ exitCode: 3, stdout: 'out-42\n', stderr: 'err\n' });
    const health = await driver.agentExec(A, ['/health.sh'], { timeoutMs: 30_000 });
    expect(health.exitCode).toBe(0);
    expect(health.stdout).toContain(`vm=${A}`);
  });

  it('answers QMP on the domain monitor', async () => {
    expect(await driver.qmp(A, 'query-status')).toMatchObject({ running: true, status: 'running' });
  });

  it('waits for a serial line after an offset, and times out on one that never comes', async () => {
    await expect(driver.waitSerial(A, 'NEVER-PRINTED-[0-9]+', { timeoutMs: 1_500 })).rejects.toBeInstanceOf(
      OperationTimedOutError,
    );
  });

  it('shuts down through the guest agent, then reports already-off', async () => {
    expect(await driver.shutdownVm(A, { deadlineMs: 60_000 })).toEqual({ method: 'agent' });
    expect((await driver.inspectVm(A)).state).toBe('shut off');
    expect(await driver.shutdownVm(A, { deadlineMs: 60_000 })).toEqual({ method: 'already-off' });
    expect(await driver.destroyVm(A)).toEqual({ destroyed: false });
  });

  it('forces off a guest that honours neither agent nor ACPI, once the deadline passes', async () => {
    const disk = await createDisk(site, B);
    await driver.defineDomain(testVmSpec(B, disk, { guestAgent: false }));
    const r = await driver.startVm(B);
    await driver.waitSerial(B, READY(B), { timeoutMs: 120_000, fromOffset: r.serialOffset });
    await expect(driver.agentExec(B, ['/bin/true'], { timeoutMs: 5_000 })).rejects.toBeInstanceOf(
      AgentNotRespondingError,
    );
    expect(await driver.shutdownVm(B, { deadlineMs: 4_000 })).toEqual({ method: 'forced' });
    expect((await driver.inspectVm(B)).state).toBe('shut off');
  });

  it('destroys a running VM, and a repeat is a no-op', async () => {
    await driver.startVm(B);
    expect(await driver.destroyVm(B)).toEqual({ destroyed: true });
    expect(await driver.destroyVm(B)).toEqual({ destroyed: false });
  });

  it('undefines idempotently; a missing VM is VmNotFoundError with stderr', async () => {
    expect(await driver.undefineVm(B)).toEqual({ removed: true });
    expect(await driver.undefineVm(B)).toEqual({ removed: false });
    const err = await driver.inspectVm(B).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmNotFoundError);
    expect((err as VmNotFoundError).stderr).toContain(B);
    expect((err as VmNotFoundError).site).toBe(site);
    await expect(driver.startVm(B)).rejects.toBeInstanceOf(VmNotFoundError);
  });

  it('runs a transient copy on the bubble network from an overlay, and it vanishes when destroyed', async () => {
    const base = domainSpecFromXml(await driver.domainDefinition(A));
    const overlay = await createDisk(site, T, base.disks[0]?.source);
    const spec = {
      ...base,
      name: T,
      uuid: undefined,
      disks: [{ target: 'vda', source: overlay, format: 'qcow2' }],
      nics: [{ network: 'bubble' }],
      serialLog: `${TEST_DIR}/${T}.serial.log`,
      boot: { ...base.boot!, cmdline: `console=ttyS0 quiet panic=-1 lb.vm=${T}` },
    };
    const r = await driver.createTransient(spec);
    expect(r).toMatchObject({ name: T, created: true, alreadyRunning: false });
    expect(await driver.createTransient(spec)).toEqual({ name: T, created: false, alreadyRunning: true });
    const info = await driver.inspectVm(T);
    expect(info).toMatchObject({ state: 'running', persistent: false });
    expect(info.nics.map((n) => n.network)).toEqual(['bubble']);
    const ready = await driver.waitSerial(T, READY(T), { timeoutMs: 120_000, fromOffset: r.serialOffset });
    // The copy booted the disk A formatted (boots=2), not a blank one.
    expect(ready.line).toMatch(/boots=2 /);
    expect(await driver.destroyVm(T)).toEqual({ destroyed: true });
    expect(await driver.vmState(T)).toBe('missing');
    expect(await driver.destroyVm(T)).toEqual({ destroyed: false });
    expect(await driver.undefineVm(T)).toEqual({ removed: false });
  });

  it('reports networks, host memory, storage and images for live checks', async () => {
    const nets = await driver.listNetworks();
    expect(nets.filter((n) => n.active).map((n) => n.name)).toEqual(
      expect.arrayContaining(['production', 'bubble']),
    );
    const host = await driver.hostInfo();
    expect(host.cpus).toBeGreaterThan(0);
    expect(host.availableMemoryBytes).toBeGreaterThanOrEqual(host.freeMemoryBytes);
    expect(host.totalMemoryBytes).toBeGreaterThan(host.availableMemoryBytes);
    const st = await driver.storageInfo(SITE_STORAGE_PATH);
    expect(st).toMatchObject({ exists: true, writable: true });
    expect(st.freeBytes).toBeGreaterThan(0);
    expect(await driver.storageInfo(`${SITE_STORAGE_PATH}/no-such-dir`)).toMatchObject({
      exists: false,
      writable: false,
    });
    const img = await driver.imageInfo(`${TEST_DIR}/${A}.qcow2`);
    expect(img).toMatchObject({ format: 'qcow2', virtualSizeBytes: 64 * 1024 * 1024 });
  });

  it('refuses hostile names before anything runs', async () => {
    await expect(driver.startVm('../../etc/passwd')).rejects.toBeInstanceOf(InvalidNameError);
    await expect(driver.createTransient(testVmSpec('x;reboot', '/x.qcow2'))).rejects.toBeInstanceOf(
      InvalidNameError,
    );
  });

  it('a killed site is SiteUnreachableError within the 10 s call bound, and comes back with lab up', async () => {
    await labCli(['kill-site', site]);
    try {
      const bound = new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), 10_000).unref());
      const outcome = await Promise.race([driver.listVms().catch((e: unknown) => e), bound]);
      expect(outcome).toBeInstanceOf(SiteUnreachableError);
      expect((outcome as SiteUnreachableError).site).toBe(site);
      await expect(driver.startVm(A)).rejects.toBeInstanceOf(SiteUnreachableError);
      // The export's session loses its connection: a retryable failure, not a hang.
      const lost = await session.call({ op: 'state', domain: A }, 10_000).catch((e: unknown) => e);
      expect(lost).toMatchObject({ code: 'VIRSH_FAILED', retryable: true });
    } finally {
      // The site comes back as it was lent: without site workers, which would hold its ports.
      await labCli(['up', '--no-workers'], 600_000);
    }
    expect((await driver.listNetworks()).map((n) => n.name)).toContain('bubble');
    // The same session connects again to the restarted daemon.
    expect(await session.call({ op: 'checkpoints', domain: A })).toEqual([]);
  });
});
