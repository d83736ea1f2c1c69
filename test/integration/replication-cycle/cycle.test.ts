/**
 * Replication cycles end to end on the real lab, the workload writing all along: a cycle
 * admitted by the runbook's controller, exported at the primary (checkpoint + push backup),
 * pulled over the inter-site link by the secondary's worker and committed there.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestReplication } from '../../../cli/commands/replicate.ts';
import { runbookState } from '../../../cli/runbook-client.ts';
import { hostPathOf, SITE_GUEST_PATH, SITE_STORAGE_PATH, sitePaths } from '../../../lab/config.ts';
import { labCut, labHeal } from '../../../lab/lab.ts';
import { labReplicationTlsDir } from '../../../lab/replication-tls.ts';
import { readState } from '../../../lab/state.ts';
import { domainBootFiles } from '../../../replication/export/boot-files.ts';
import { LibvirtSession } from '../../../replication/export/libvirt-session.ts';
import { checkpointDirtyBytes } from '../../../replication/export/online.ts';
import { loadTransferKey } from '../../../replication/tls.ts';
import { nbdPsk } from '../../../replication/transfer/nbd.ts';
import { type TransferGrant, transferToken } from '../../../replication/transfer/protocol.ts';
import { verifyPoint } from '../../../replication/verify.ts';
import type { ReplicationCycleResult } from '../../../workflows/replication.ts';
import { saveHistory } from '../../support/histories.ts';
import { objectsWith, showHistory } from '../../support/history-secrets.ts';
import { testServer } from '../../support/temporal.ts';
import {
  type CycleLab,
  checkpoints,
  compareImages,
  interCounters,
  referenceCopy,
  siteMetrics,
  slowLink,
  startCycleLab,
  waitBackupStarted,
  waitMidFile,
  waitNewCheckpoint,
  waitStaged,
} from './harness.ts';
import { virshPrimary, waitWorkload } from './lab-vm.ts';

const KiB = 1024;
const pexec = promisify(execFile);

describe('replication cycle (real lab)', () => {
  let lab: CycleLab;
  let session: LibvirtSession | undefined;
  let refRoot: string;

  beforeAll(async () => {
    lab = await startCycleLab({ vmName: 'rcy-db', runbook: `rcy-${Date.now().toString(36)}` });
    refRoot = mkdtempSync(path.join(tmpdir(), 'lifeboat-rcy-ref-'));
  });
  afterAll(async () => {
    session?.close();
    await lab?.close();
    if (refRoot) rmSync(refRoot, { recursive: true, force: true });
  });

  /**
   * One cycle with the VM paused until its backup has taken its point in time, so the reference
   * copy is exactly the disk at the checkpoint; by default the guest then writes again while the
   * backup is read and shipped (`keepPaused`: until the cycle ends). `meanwhile` runs then too.
   */
  async function pausedCycle(
    tag: string,
    base: string | null,
    opts: { keepPaused?: boolean; meanwhile?: () => Promise<void> } = {},
  ) {
    const vm = lab.vm;
    await virshPrimary(['suspend', vm.name]);
    let resumed = false;
    const resume = async () => {
      await virshPrimary(['resume', vm.name]);
      resumed = true;
    };
    try {
      const refs = await referenceCopy(vm, mkdtempSync(path.join(refRoot, `${tag}-`)));
      const dirty =
        base === null
          ? null
          : await checkpointDirtyBytes({ uri: primaryUri(), session: primarySession() }, vm.name, base);
      const before = await interCounters('primary');
      const known = await checkpoints(vm);
      const c = await lab.cycle();
      // One cycle at a time: a second request is refused (not coalesced) and names the first.
      const again = await requestReplication(lab.client, lab.plan);
      expect(again).toMatchObject({ admitted: false, code: 'CONFLICT', conflictsWith: c.id });
      const cp = await waitNewCheckpoint(vm, known);
      await waitBackupStarted(vm.name, c.result);
      if (!opts.keepPaused) await resume();
      await opts.meanwhile?.();
      const result = await c.result;
      if (!resumed) await resume();
      const after = await interCounters('primary');
      return { refs, dirty, linkBytes: after.tx - before.tx, checkpoint: cp, result, id: c.id };
    } finally {
      if (!resumed) await virshPrimary(['resume', vm.name]).catch(() => undefined);
    }
  }

  async function waitDomainState(domain: string, want: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await virshPrimary(['domstate', domain])).trim() !== want) {
      if (Date.now() > deadline) throw new Error(`${domain} did not become ${want}`);
      await sleep(250);
    }
  }

  /** A file of the guest directory the primary's domains boot from, as the host sees it. */
  function primaryGuestFile(inSite: string): string {
    const dir = readState()?.sites.primary.guestDir;
    if (!dir || !inSite.startsWith(`${SITE_GUEST_PATH}/`))
      throw new Error(`${inSite} is not a lab guest file`);
    return path.join(dir, inSite.slice(SITE_GUEST_PATH.length + 1));
  }

  function primaryUri(): string {
    return `qemu:///system?socket=${path.join(process.cwd(), '.lifeboat', 'lab', 'primary', 'run', 'libvirt-sock')}`;
  }

  function primarySession(): LibvirtSession {
    session ??= new LibvirtSession(primaryUri());
    return session;
  }

  async function expectExact(pointId: string, refs: string[]) {
    const m = await lab.store.getPoint(lab.vm.name, pointId);
    expect(m).not.toBeNull();
    for (const [i, target] of lab.vm.targets.entries()) {
      const image = lab.store.imagePath(m!, target);
      expect(image).not.toBeNull();
      const cmp = await compareImages(refs[i]!, image!);
      expect(cmp, `${target} of ${pointId}: ${cmp.detail}`).toMatchObject({ identical: true });
    }
    return m!;
  }

  it('commits a full point equal to every disk at the checkpoint, then an exact incremental whose link bytes are bounded by the dirty bytes', async () => {
    const first = await pausedCycle('c1', null);
    expect(first.result.outcome).toBe('succeeded');
    const v1 = first.result.vms[0]!;
    expect(v1).toMatchObject({ vm: lab.vm.name, outcome: 'committed', kind: 'full' });
    expect(v1.fullReason).toMatch(/first cycle/);
    // Every VM committed: the controller counts the runbook as protected from the cycle's end.
    const state = await runbookState(lab.client, lab.plan.runbook.name);
    expect(state).toMatchObject({ protection: 'on', protectedAt: expect.any(String) });
    const m1 = await expectExact(v1.pointId, first.refs);
    expect(m1.sourceCheckpoint).toBe(first.checkpoint);
    expect(m1.disks.map((d) => d.target)).toEqual(['vda', 'vdb', 'vdc']);
    // The workload's last record, read offline from the committed point, on both data disks.
    expect(Object.keys(m1.workload ?? {}).sort()).toEqual(['vdb', 'vdc']);
    // The kernel and initramfs the guest boots from travel with the point, by digest, so the VM
    // can be built at the secondary with the primary gone.
    const boot = domainBootFiles(m1.domain.xml);
    expect(boot.map((b) => b.role)).toEqual(['kernel', 'initrd']);
    expect(m1.domain.bootFiles.map((b) => [b.role, b.sha256])).toEqual(
      boot.map((b) => [
        b.role,
        createHash('sha256')
          .update(readFileSync(primaryGuestFile(b.path)))
          .digest('hex'),
      ]),
    );

    // Let the workload write, then the second cycle must continue the chain from point 1.
    const seq = await waitWorkload(lab.vm, 0);
    await waitWorkload(lab.vm, seq + 10);
    const second = await pausedCycle('c2', m1.sourceCheckpoint);
    expect(second.result.outcome).toBe('succeeded');
    const v2 = second.result.vms[0]!;
    expect(v2).toMatchObject({ outcome: 'committed', kind: 'incremental' });
    const m2 = await expectExact(v2.pointId, second.refs);
    expect(m2.disks.every((d) => d.parentPointId === m1.pointId && d.chainPosition === 1)).toBe(true);
    expect(m2.disks.every((d) => d.backing?.startsWith(`../${m1.pointId}/`))).toBe(true);
    // Unchanged boot files are not shipped again: the new point links the first one's.
    expect(m2.domain.bootFiles).toEqual(m1.domain.bootFiles.map((b) => ({ ...b, linkedFrom: m1.pointId })));
    for (const b of m2.domain.bootFiles) {
      const inode = (m: typeof m1) =>
        statSync(path.join(lab.store.pointDir(lab.vm.name, m.pointId), b.path)).ino;
      expect(inode(m2)).toBe(inode(m1));
    }
    const seqs = (w: unknown) => Number((w as { seq: number }).seq);
    expect(seqs(m2.workload?.vdb)).toBeGreaterThan(seqs(m1.workload?.vdb));

    // (b) bytes on the inter-site link: at most 1.2x the dirty bytes plus per-file qcow2 metadata.
    const dirty = second.dirty!;
    expect(dirty).toBeGreaterThan(0);
    const metadata = lab.vm.targets.length * 512 * KiB + 128 * KiB;
    expect(second.linkBytes).toBeLessThanOrEqual(1.2 * dirty + metadata);
    console.log(
      JSON.stringify({
        dirtyBytes: dirty,
        linkBytes: second.linkBytes,
        shipped: v2.bytesShipped,
        fullLink: first.linkBytes,
      }),
    );

    // The secondary's worker counts what it committed, labelled by runbook, group and VM.
    const metrics = await siteMetrics('secondary');
    const labels = `runbook="${lab.plan.runbook.name}",group="database",vm="${lab.vm.name}"`;
    expect(metrics).toContain(`lifeboat_replication_points_committed_total{${labels},kind="full"} 1`);
    expect(metrics).toContain(`lifeboat_replication_points_committed_total{${labels},kind="incremental"} 1`);
    expect(metrics).toMatch(new RegExp(`lifeboat_replication_cycle_duration_seconds_count\\{${labels}\\} 2`));
    const shipped = Number(
      new RegExp(`lifeboat_replication_bytes_shipped_total\\{${labels}\\} (\\d+)`).exec(metrics)?.[1],
    );
    expect(shipped).toBeGreaterThan(0);

    // Only checkpoints that committed points reference remain at the primary.
    expect((await checkpoints(lab.vm)).sort()).toEqual([m1.sourceCheckpoint, m2.sourceCheckpoint].sort());

    // (c) No secret in history: both cycles' full histories and their VM workflows', read with
    // the stock temporal CLI, hold no transfer token (of the export, nor of the base blocks the
    // secondary served for the incremental) and no transfer key.
    const key = await loadTransferKey(labReplicationTlsDir('secondary'));
    const grants: { site: string; transferId: string; nonce: string }[] = [];
    let text = '';
    for (const id of [first.id, second.id].flatMap((c) => [c, `${c}/${lab.vm.name}`])) {
      const h = await showHistory(id, testServer());
      text += h.raw + JSON.stringify(h.payloads);
      expect(objectsWith(h.payloads, ['token']), id).toEqual([]);
      for (const g of objectsWith(h.payloads, ['site', 'transferId', 'nonce']))
        grants.push(g as (typeof grants)[number]);
    }
    // What the payloads do name: the export of each cycle and the base blocks of the second.
    expect(new Set(grants.map((g) => g.transferId)).size).toBeGreaterThanOrEqual(3);
    expect(grants.some((g) => g.transferId.endsWith('.blocks') && g.site === 'secondary')).toBe(true);
    for (const g of grants) expect(text).not.toContain(transferToken(key, g));
    for (const form of [key.toString('hex'), key.toString('base64'), key.toString('base64url')])
      expect(text).not.toContain(form);
  });

  it('a stopped VM ships at most 1.2x its dirty bytes and its point is exact; with nothing changed it ships no file and stays exact; its full copy streams over NBD, exact; the next online cycle is incremental', async () => {
    const vm = lab.vm;
    const base = (await lab.store.newestCommitted(vm.name))!;
    const seq = await waitWorkload(vm, (await waitWorkload(vm, 0)) + 10);
    await virshPrimary(['shutdown', vm.name, '--mode', 'agent']);
    await waitDomainState(vm.name, 'shut off');
    const before = await interCounters('primary');
    const r = await (await lab.cycle()).result;
    const after = await interCounters('primary');
    expect(r.outcome).toBe('succeeded');
    const v = r.vms[0]!;
    expect(v).toMatchObject({ outcome: 'committed', kind: 'incremental', mode: 'offline' });
    const m = await expectExact(v.pointId, vm.hostDisks);
    expect(m.disks.every((d) => d.parentPointId === base.pointId)).toBe(true);
    expect(v.dirtyBytes).toBeGreaterThan(0);
    const linkBytes = after.tx - before.tx;
    console.log(
      JSON.stringify({ offline: { dirtyBytes: v.dirtyBytes, linkBytes, shipped: v.bytesShipped } }),
    );
    expect(linkBytes).toBeLessThanOrEqual(1.2 * v.dirtyBytes! + vm.targets.length * 512 * KiB + 128 * KiB);

    // Nothing changed since: the cycle ships no file (empty layers made at the secondary), and
    // its point is still exact, with the same workload record and a checkpoint to go on from.
    const idleBefore = await interCounters('primary');
    const idleCycle = await lab.cycle();
    const idle = await idleCycle.result;
    const idleAfter = await interCounters('primary');
    const iv = idle.vms[0]!;
    // Nothing to clean at the primary: the point kept its base's checkpoint, nothing was
    // registered or staged, and the VM workflow ran no cleanup activity.
    const idleVmId = `${idleCycle.id}/${vm.name}`;
    const idleHistory = await lab.client.workflow.getHandle(idleVmId).fetchHistory();
    const idleActivities = (idleHistory.events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name
        ? [e.activityTaskScheduledEventAttributes.activityType.name]
        : [],
    );
    expect(idleActivities).toEqual(['replicationBase', 'replicationPrepareExport', 'replicationPullCommit']);
    await saveHistory(lab.client, idleVmId, 'replicationVmWorkflow', 'idle-offline');
    expect(iv).toMatchObject({ outcome: 'committed', kind: 'incremental', mode: 'offline', dirtyBytes: 0 });
    expect(iv.bytesShipped).toBe(0);
    expect(iv.bytesReceived).toBe(0);
    expect(idleAfter.tx - idleBefore.tx).toBeLessThan(16 * KiB);
    const mi = await expectExact(iv.pointId, vm.hostDisks);
    expect(mi.disks.every((d) => d.parentPointId === m.pointId)).toBe(true);
    expect(mi.sourceCheckpoint).toBe(m.sourceCheckpoint);
    const exportDir = path.posix.join(SITE_STORAGE_PATH, 'replication', 'export', vm.name, iv.pointId);
    expect(existsSync(hostPathOf('primary', exportDir))).toBe(false);
    expect(mi.disks.map((d) => d.contentDigest.root)).toEqual(m.disks.map((d) => d.contentDigest.root));
    expect(mi.workload).toEqual(m.workload);
    expect(mi.workload).toBeDefined();

    // The base checkpoint gone at the primary: the stopped VM's full copy is streamed over NBD
    // (TLS-PSK) straight into the secondary's staging, exact, zeros as holes, nothing left serving.
    await virshPrimary(['checkpoint-delete', vm.name, mi.sourceCheckpoint, '--metadata']);
    for (const d of vm.hostDisks) await pexec('qemu-img', ['bitmap', '--remove', d, mi.sourceCheckpoint]);
    const fullBefore = await interCounters('primary');
    const fullCycle = await lab.cycle();
    const full = await fullCycle.result;
    const fullLink = (await interCounters('primary')).tx - fullBefore.tx;
    const fv = full.vms[0]!;
    expect(fv).toMatchObject({ outcome: 'committed', kind: 'full', mode: 'offline', transport: 'nbd' });
    expect(fv.fullReason).toMatch(/checkpoint .* is gone at the primary/);
    const mf = await expectExact(fv.pointId, vm.hostDisks);
    expect(mf.disks.every((d) => d.parentPointId === null && d.backing === null)).toBe(true);
    expect(mf.workload).toEqual(m.workload);
    console.log(
      JSON.stringify({ nbdFull: { shipped: fv.bytesShipped, linkBytes: fullLink, restarts: fv.restarts } }),
    );
    expect(fullLink).toBeLessThanOrEqual(1.1 * fv.bytesShipped! + 1024 * KiB);
    const fullExport = path.posix.join(SITE_STORAGE_PATH, 'replication', 'export', vm.name, fv.pointId);
    expect(existsSync(hostPathOf('primary', fullExport))).toBe(false);
    // The pre-shared key is derived at both sites, never carried in the cycle's payloads.
    const fullVmId = `${fullCycle.id}/${vm.name}`;
    await saveHistory(lab.client, fullVmId, 'replicationVmWorkflow', 'full-offline-nbd');
    const fh = await showHistory(fullVmId, testServer());
    const grant = (
      objectsWith(fh.payloads, ['site', 'transferId', 'nonce']) as unknown as TransferGrant[]
    ).find((g) => g.site === 'primary' && g.transferId === `${vm.name}.${fv.pointId}`);
    expect(grant).toBeDefined();
    const psk = nbdPsk(await loadTransferKey(labReplicationTlsDir('secondary')), grant!);
    expect(fh.raw + JSON.stringify(fh.payloads)).not.toContain(psk);

    await virshPrimary(['start', vm.name]);
    await waitWorkload(vm, seq, 240_000);
    const next = await pausedCycle('after-offline', mf.sourceCheckpoint);
    expect(next.result.vms[0]).toMatchObject({ outcome: 'committed', kind: 'incremental', mode: 'online' });
    const m2 = await expectExact(next.result.vms[0]!.pointId, next.refs);
    expect(m2.disks.every((d) => d.parentPointId === mf.pointId)).toBe(true);
  });

  it('a lab cut mid-transfer, then heal: the cycle completes, no partial point is ever listed, the resume bound holds', async () => {
    const vm = lab.vm;
    const pointsBefore = (await lab.store.listPoints(vm.name)).map((p) => p.pointId);
    await waitWorkload(vm, (await waitWorkload(vm, 0)) + 10);
    // At 256 kbit the 192 KiB still to come take ~6 s: the cut lands mid-file even when the
    // machine is loaded (at 512 kbit a slow cut once came after the file had arrived).
    await slowLink('256kbit');
    try {
      const before = await interCounters('primary');
      const c = await lab.cycle();
      const mid = await waitMidFile(lab.storeRoot, vm.name, { arrived: 64 * KiB, remaining: 192 * KiB });
      await labCut();
      // While the link is down the point is being transferred, never listed.
      for (let i = 0; i < 15; i++) {
        expect((await lab.store.listPoints(vm.name)).map((p) => p.pointId)).toEqual(pointsBefore);
        await sleep(1_000);
      }
      await labHeal();
      const r = await c.result;
      const after = await interCounters('primary');
      expect(r.outcome).toBe('succeeded');
      const v = r.vms[0]!;
      expect(v).toMatchObject({ outcome: 'committed', kind: 'incremental' });
      expect(v.resumes ?? 0).toBeGreaterThan(0);
      // Resumed, not restarted: the link carried at most 1.2x the point's bytes.
      expect(after.tx - before.tx).toBeLessThanOrEqual(1.2 * v.bytesShipped!);
      console.log(
        JSON.stringify({
          cut: { at: mid, pointBytes: v.bytesShipped, linkBytes: after.tx - before.tx, resumes: v.resumes },
        }),
      );
      expect((await lab.store.listPoints(vm.name)).map((p) => p.pointId)).toEqual([
        ...pointsBefore,
        v.pointId,
      ]);
      expect(await lab.store.listStaging(vm.name)).toEqual([]);
    } finally {
      await labHeal().catch(() => undefined);
      await slowLink(null);
    }
  });

  it('the secondary worker SIGKILLed between backup start and commit: exactly one point for the cycle, and the next point is exact', async () => {
    const vm = lab.vm;
    await waitWorkload(vm, (await waitWorkload(vm, 0)) + 10);
    await slowLink('1mbit');
    let r: ReplicationCycleResult;
    try {
      const c = await lab.cycle();
      await waitStaged(lab.storeRoot, vm.name, 100 * KiB);
      process.kill(lab.workerPids.secondary, 'SIGKILL');
      await lab.startSiteWorker('secondary');
      await slowLink(null);
      r = await c.result;
    } finally {
      await slowLink(null);
    }
    expect(r.outcome).toBe('succeeded');
    const v = r.vms[0]!;
    const all = await lab.store.listPoints(vm.name);
    expect(all.filter((p) => p.pointId === v.pointId)).toHaveLength(1);
    expect(all.filter((p) => p.sourceCheckpoint === `lb-${v.pointId}`)).toHaveLength(1);
    expect(await lab.store.listStaging(vm.name)).toEqual([]);
    const next = await pausedCycle('after-kill', all[all.length - 1]!.sourceCheckpoint);
    expect(next.result.vms[0]).toMatchObject({ outcome: 'committed', kind: 'incremental' });
    await expectExact(next.result.vms[0]!.pointId, next.refs);
  });

  it('the primary worker SIGKILLed while its backup runs: after restart one point for the cycle, exact', async () => {
    const vm = lab.vm;
    await waitWorkload(vm, (await waitWorkload(vm, 0)) + 10);
    const base = (await lab.store.newestCommitted(vm.name))!;
    await slowLink('1mbit');
    let killed = 0;
    const c = await pausedCycle('primary-kill', base.sourceCheckpoint, {
      keepPaused: true,
      meanwhile: async () => {
        killed = lab.workerPids.primary;
        process.kill(killed, 'SIGKILL');
        await lab.startSiteWorker('primary');
        await slowLink(null);
      },
    }).finally(() => slowLink(null));
    expect(lab.workerPids.primary).not.toBe(killed);
    expect(c.result.outcome).toBe('succeeded');
    const v = c.result.vms[0]!;
    expect(v).toMatchObject({ outcome: 'committed', kind: 'incremental' });
    const all = await lab.store.listPoints(vm.name);
    expect(all.filter((p) => p.pointId === v.pointId)).toHaveLength(1);
    expect(all.filter((p) => p.sourceCheckpoint === c.checkpoint)).toHaveLength(1);
    const m = await expectExact(v.pointId, c.refs);
    expect(m.disks.every((d) => d.parentPointId === base.pointId)).toBe(true);
    // The retried export left no checkpoint behind that no committed point names.
    const committed = new Set(all.map((p) => p.sourceCheckpoint));
    expect((await checkpoints(vm)).filter((cp) => !committed.has(cp))).toEqual([]);
  });

  it('consistency: application freezes the guest around the checkpoint; without a guest agent the point is crash-consistent and says why', async () => {
    const vm = lab.vm;
    const app = await lab.variant(`${lab.plan.runbook.name}-app`, { consistency: 'application' });
    const frozen = await (await lab.cycle(app)).result;
    expect(frozen.outcome).toBe('succeeded');
    const m1 = (await lab.store.getPoint(vm.name, frozen.vms[0]!.pointId))!;
    expect(m1.consistency).toEqual({ requested: 'application', achieved: 'application' });
    // The guest's agent goes away (it runs its own end, by its pid file): no freeze is possible.
    await virshPrimary([
      'qemu-agent-command',
      vm.name,
      JSON.stringify({
        execute: 'guest-exec',
        arguments: { path: '/bin/sh', arg: ['-c', 'kill $(cat /run/qemu-ga.pid)'] },
      }),
    ]);
    const crash = await (await lab.cycle(app)).result;
    expect(crash.outcome).toBe('succeeded');
    const m2 = (await lab.store.getPoint(vm.name, crash.vms[0]!.pointId))!;
    expect(m2.consistency).toMatchObject({ requested: 'application', achieved: 'crash' });
    expect(m2.consistency.reason).toMatch(/fsfreeze failed/);
    // `lifeboat points` says so, in its own words.
    const listed = await pexec(process.execPath, [
      'bin/lifeboat.mjs',
      'points',
      lab.runbookFile,
      '--vm',
      vm.name,
      '--store',
      lab.storeRoot,
    ]);
    expect(listed.stdout).toContain(`${m2.pointId}: crash-consistent because guest agent fsfreeze failed`);
  });

  it('QEMU killed (bitmaps left inconsistent): the next cycle resyncs by block digests, says so, and its point is exact', async () => {
    const vm = lab.vm;
    const base = (await lab.store.newestCommitted(vm.name))!;
    const seq = await waitWorkload(vm, 0);
    // The QEMU of the test's own VM (started by this file), found by libvirt's pid file.
    const pid = Number(
      readFileSync(path.join(sitePaths('primary').qemuPidDir, `${vm.name}.pid`), 'utf8').trim(),
    );
    process.kill(pid, 'SIGKILL');
    await waitDomainState(vm.name, 'shut off');
    await virshPrimary(['start', vm.name]);
    await waitWorkload(vm, seq, 240_000);
    const resynced = await pausedCycle('resync', null);
    expect(resynced.result.outcome).toBe('succeeded');
    const v = resynced.result.vms[0]!;
    expect(v).toMatchObject({ outcome: 'committed', kind: 'incremental', mode: 'online' });
    expect(v.resync?.reason).toMatch(/inconsistent.*resync by block digests/);
    expect(v.resync!.blocksShipped).toBeLessThan(v.resync!.blocksCompared);
    console.log(JSON.stringify({ resync: v.resync, shipped: v.bytesShipped, linkBytes: resynced.linkBytes }));
    const m = await expectExact(v.pointId, resynced.refs);
    expect(m.disks.every((d) => d.parentPointId === base.pointId)).toBe(true);

    // The chain goes on from the resync point's fresh checkpoint.
    const next = await pausedCycle('after-resync', m.sourceCheckpoint);
    expect(next.result.vms[0]).toMatchObject({ outcome: 'committed', kind: 'incremental' });
    expect(next.result.vms[0]!.resync).toBeUndefined();
    await expectExact(next.result.vms[0]!.pointId, next.refs);
  });

  it('QEMU killed and the VM left stopped: the offline cycle compares the disks in place, says so, and its point is exact', async () => {
    const vm = lab.vm;
    const base = (await lab.store.newestCommitted(vm.name))!;
    const seq = await waitWorkload(vm, (await waitWorkload(vm, 0)) + 10);
    const pid = Number(
      readFileSync(path.join(sitePaths('primary').qemuPidDir, `${vm.name}.pid`), 'utf8').trim(),
    );
    process.kill(pid, 'SIGKILL');
    await waitDomainState(vm.name, 'shut off');
    const r = await (await lab.cycle()).result;
    expect(r.outcome).toBe('succeeded');
    const v = r.vms[0]!;
    expect(v).toMatchObject({ outcome: 'committed', kind: 'incremental', mode: 'offline' });
    expect(v.resync?.reason).toMatch(/inconsistent.*resync by block digests/);
    expect(v.resync!.blocksShipped).toBeLessThan(v.resync!.blocksCompared);
    const m = await expectExact(v.pointId, vm.hostDisks);
    expect(m.disks.every((d) => d.parentPointId === base.pointId)).toBe(true);

    // Started again, the VM's next cycle is an ordinary incremental from the resync point.
    await virshPrimary(['start', vm.name]);
    await waitWorkload(vm, seq, 240_000);
    const next = await pausedCycle('after-offline-resync', m.sourceCheckpoint);
    expect(next.result.vms[0]).toMatchObject({ outcome: 'committed', kind: 'incremental', mode: 'online' });
    expect(next.result.vms[0]!.resync).toBeUndefined();
    await expectExact(next.result.vms[0]!.pointId, next.refs);
  });

  it('a byte changed in a committed file at the secondary: verification marks the point failed and the next cycle ships a full copy saying why', async () => {
    const vm = lab.vm;
    const newest = (await lab.store.newestCommitted(vm.name))!;
    const file = path.join(lab.store.pointDir(vm.name, newest.pointId), newest.disks[1]!.image);
    const fd = openSync(file, 'r+');
    try {
      const b = Buffer.alloc(1);
      const at = Math.floor(statSync(file).size / 2);
      readSync(fd, b, 0, 1, at);
      b[0] = b[0]! ^ 0xff;
      writeSync(fd, b, 0, 1, at);
    } finally {
      closeSync(fd);
    }
    const verified = await verifyPoint(lab.store, vm.name, newest.pointId);
    expect(verified.manifest.integrity.state).toBe('failed');
    expect(verified.problems.join(' ')).toContain(newest.disks[1]!.image);
    const listed = JSON.parse(
      (
        await pexec(process.execPath, [
          'bin/lifeboat.mjs',
          'points',
          lab.runbookFile,
          '--vm',
          vm.name,
          '--json',
          '--store',
          lab.storeRoot,
        ])
      ).stdout,
    ) as { points: { id: string; integrity: string; kind: string }[] };
    expect(listed.points.find((p) => p.id === newest.pointId)?.integrity).toBe('failed');

    const next = await pausedCycle('after-damage', null);
    const v = next.result.vms[0]!;
    expect(v).toMatchObject({ outcome: 'committed', kind: 'full' });
    expect(v.fullReason).toMatch(/failed verification/);
    await expectExact(v.pointId, next.refs);
  });
});
