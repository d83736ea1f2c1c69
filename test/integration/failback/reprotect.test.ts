/**
 * Reprotect on the real lab, the workload writing all along: a planned failover committed, the
 * VM writing at the secondary, then reprotect ships only what differs since the common point
 * into the old primary's disks. Measured from the transfer's own counters: bytes on the link
 * ≤ 1.1 × the blocks the secondary wrote + 1 MiB; afterwards `qemu-img compare` finds both
 * sides' disks identical. A disaster failover leaves blocks written at the primary after the
 * point: reprotect keeps them in a side file before overwriting them, byte for byte.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { divergentBlocks, divergentStatus, renderDivergentStatus } from '../../../cli/commands/divergent.ts';
import type { ReversePointRow } from '../../../cli/commands/points.ts';
import { commitFailover, runbookState, startOperation } from '../../../cli/runbook-client.ts';
import { hostPathOf, SITE_STORAGE_PATH } from '../../../lab/config.ts';
import { listOperations } from '../../../platform/operations.ts';
import { parseEvidence } from '../../../reports/evidence.ts';
import { planHash } from '../../../runbooks/hash.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import type { ReprotectResult } from '../../../workflows/reprotect.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { readLastRecord } from '../../../workload/reader.ts';
import { runCli } from '../../support/cli.ts';
import { saveHistory } from '../../support/histories.ts';
import { testServer } from '../../support/temporal.ts';
import { type CycleLab, startCycleLab } from '../replication-cycle/harness.ts';
import { waitWorkload } from '../replication-cycle/lab-vm.ts';
import { inSite, lastAckIn, layerBytes, shutOff, stateAt, virshAt, waitState } from './helpers.ts';

const pexec = promisify(execFile);
const VM = 'rpt-db';
const MiB = 1024 * 1024;
const GROUP = `    onFailure: rollback
    checks:
      - serial: { pattern: "LIFEBOAT-READY vm=${VM}", within: 2m }
failover:
  commitWithin: 30m
  onCommitTimeout: rollback
`;

async function removeAtSecondary(vm: string): Promise<void> {
  await virshAt('secondary', ['destroy', vm]).catch(() => undefined);
  await virshAt('secondary', ['undefine', vm, '--checkpoints-metadata']).catch(() => undefined);
}

async function failoverCommitted(lab: CycleLab, plan: Plan, mode: 'planned' | 'disaster'): Promise<string> {
  const op = await startOperation(lab.client, {
    plan,
    kind: 'failover',
    options: mode === 'planned' ? { mode, shutdownDeadlineMs: 60_000 } : { mode },
    requestedBy: 'reprotect-test',
  });
  await waitState(lab, op.id, 'waiting-commit', 600_000);
  await commitFailover(lab.client, { operationId: op.id, decision: 'commit', reason: 'reprotect test' });
  const r = (await lab.client.workflow.getHandle(op.id).result()) as OperationResult;
  expect(r.outcome, r.error).toBe('succeeded');
  return op.id;
}

async function reprotect(lab: CycleLab, plan: Plan): Promise<ReprotectResult> {
  const op = await startOperation(lab.client, { plan, kind: 'reprotect', requestedBy: 'reprotect-test' });
  return (await lab.client.workflow.getHandle(op.id).result()) as ReprotectResult;
}

/** The secondary VM's disks (its overlays, inside the site) by target. */
async function secondaryDisks(vm: string): Promise<Record<string, string>> {
  const out = await virshAt('secondary', ['domblklist', vm]);
  const disks: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const [target, source] = line.trim().split(/\s+/);
    if (target && source && source !== '-') disks[target] = source;
  }
  return disks;
}

/** `qemu-img compare` of each disk: the secondary's chain (in its site) against the primary's file. */
async function compareSites(lab: CycleLab, vm: string): Promise<Record<string, string>> {
  const sec = await secondaryDisks(vm);
  const out: Record<string, string> = {};
  for (const [i, target] of lab.vm.targets.entries()) {
    const r = await inSite('secondary', ['qemu-img', 'compare', '-U', sec[target]!, lab.vm.hostDisks[i]!]);
    out[target] = `${r.code} ${r.stdout.trim()}${r.stderr.trim()}`;
  }
  return out;
}

async function overlayBytes(lab: CycleLab, vm: string): Promise<number> {
  const sec = await secondaryDisks(vm);
  let n = 0;
  for (const t of lab.vm.targets) n += await layerBytes('secondary', sec[t]!);
  return n;
}

/** The reverse points kept at the old primary (read from its storage): seq, undo file kept. */
function reversePointsAtPrimary(): Array<{ seq: number; undo: boolean }> {
  const dir = hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'reprotect', VM, 'points'));
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((d) => {
      const p = JSON.parse(readFileSync(path.join(dir, d, 'point.json'), 'utf8')) as { seq: number };
      return { seq: p.seq, undo: existsSync(path.join(dir, d, 'undo', 'delta.json')) };
    })
    .sort((a, b) => a.seq - b.seq);
}

function lastBoots(file: string): number {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  let boots = 0;
  for (const m of text.matchAll(/LIFEBOAT-READY vm=\S+ .*?boots=(\d+)/g)) boots = Number(m[1]);
  return boots;
}

describe('reprotect (real lab)', () => {
  let lab: CycleLab;
  let disasterPlan: Plan | undefined;

  beforeAll(async () => {
    await removeAtSecondary(VM);
    lab = await startCycleLab({ vmName: VM, runbook: `rpt-${Date.now().toString(36)}`, groupExtra: GROUP });
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
  });
  afterAll(async () => {
    await removeAtSecondary(VM);
    for (const d of ['restores', 'reprotect', 'divergent'])
      rmSync(hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, d)), {
        recursive: true,
        force: true,
      });
    for (const d of ['reprotect', 'divergent', 'fences'])
      rmSync(hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, d)), { recursive: true, force: true });
    await lab?.close();
  });

  it('after a planned failover ships only what the secondary wrote, and both sides end identical', async () => {
    const primaryLast = lastAckIn(lab.vm.serialLog);
    await failoverCommitted(lab, lab.plan, 'planned');
    expect(await stateAt('secondary', VM)).toBe('running');
    const dir = hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'restores'));
    const serial = (await secondaryDisks(VM)).vdb!.replace(/\/[^/]+$/, '/serial.log');
    const serialHost = hostPathOf('secondary', serial);
    expect(serialHost.startsWith(dir)).toBe(true);
    const deadline = Date.now() + 120_000;
    while (lastAckIn(serialHost) < primaryLast + 20 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    const writtenAtSecondary = lastAckIn(serialHost);
    expect(writtenAtSecondary).toBeGreaterThan(primaryLast);

    // 1. With the VM running at the secondary: a backup fixes the point in time.
    const t1 = Date.now();
    const first = await reprotect(lab, lab.plan);
    const firstMs = Date.now() - t1;
    expect(first.outcome, first.error).toBe('succeeded');
    expect([first.from, first.to]).toEqual(['secondary', 'primary']);
    const v1 = first.vms[0]!;
    expect(v1.snapshot).toBe('backup');
    expect(v1.fullReason).toBeUndefined();
    expect(v1.divergentBytes).toBe(0);
    expect(v1.sideDir).toBeUndefined();
    // Everything the secondary wrote up to the reprotect is now on the primary's disks.
    for (const disk of lab.vm.hostDisks.slice(1)) {
      const scan = await readLastRecord(disk);
      expect(scan.lastSeq).toBeGreaterThanOrEqual(writtenAtSecondary);
    }
    const changedRunning = await overlayBytes(lab, VM); // read after: an upper bound of the changed set
    expect(v1.bytesReceived).toBeLessThanOrEqual(1.1 * changedRunning + MiB);
    expect(v1.bytesSent).toBe(v1.bytesReceived);
    // The first one counts everything since the failover, and took the first reverse checkpoint.
    expect(v1.since).toBeUndefined();
    expect(v1.sinceFailover).toBeDefined();
    expect(first.reverseSchedule?.why).toContain('is not protected');

    // 1b. A reverse cycle with the VM still running (what the reverse Schedule triggers): only
    // what the secondary wrote since the first, through an incremental backup.
    const atFirst = lastAckIn(serialHost);
    const more = Date.now() + 120_000;
    while (lastAckIn(serialHost) < atFirst + 5 && Date.now() < more)
      await new Promise((r) => setTimeout(r, 500));
    const cycle = await reprotect(lab, lab.plan);
    expect(cycle.outcome, cycle.error).toBe('succeeded');
    const vc = cycle.vms[0]!;
    const afterCycle = await overlayBytes(lab, VM); // read after: an upper bound again
    expect([vc.snapshot, vc.since, vc.sinceFailover, vc.divergentBytes]).toEqual([
      'backup',
      `lb-reverse-${first.id.replace(/[^A-Za-z0-9._-]/g, '_')}`,
      undefined,
      0,
    ]);
    expect(vc.bytesReceived).toBeGreaterThan(0);
    expect(vc.bytesReceived).toBeLessThanOrEqual(1.1 * (afterCycle - changedRunning) + MiB);
    for (const disk of lab.vm.hostDisks.slice(1))
      expect((await readLastRecord(disk)).lastSeq).toBeGreaterThanOrEqual(atFirst + 5);
    // Two reverse points at the old primary: the first reprotect's, and this cycle's, which
    // kept the bytes it overwrote (its undo file: the same ranges as its delta) to return to it.
    expect(v1.reversePoint).toMatchObject({ seq: 1, undoBytes: 0, kept: 1, dropped: [] });
    expect(vc.reversePoint).toMatchObject({ seq: 2, undoBytes: vc.deltaBytes, kept: 2, dropped: [] });
    const { address, namespace } = testServer();
    // The lab's home (the test's), so the CLI maps the sites' storage as the test does.
    const cliEnv = { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace };
    const listed = await runCli(
      ['points', path.join(lab.home, `${lab.plan.runbook.name}.yaml`), '--json'],
      cliEnv,
    );
    expect(listed.code, listed.stderr).toBe(0);
    const reverse = (JSON.parse(listed.stdout) as { reversePoints: ReversePointRow[] }).reversePoints;
    expect(reverse.map((p) => [p.vm, p.site, p.seq, p.operationId, p.newest])).toEqual([
      [VM, 'primary', 1, first.id, false],
      [VM, 'primary', 2, cycle.id, true],
    ]);
    expect(reverse[1]?.size).toBe(vc.deltaBytes);
    const state = await runbookState(lab.client, lab.plan.runbook.name);
    expect(state.protectionDirection).toMatchObject({ from: 'secondary', to: 'primary' });
    await saveHistory(
      lab.client,
      `runbook/${lab.plan.runbook.name}/reprotect/1`,
      'reprotectWorkflow',
      'reprotect-running',
    );

    // 2. Stopped at the secondary: the exact comparison, from the last cycle's checkpoint (its
    // bitmap read from the overlays).
    await shutOff('secondary', VM);
    const changed = await overlayBytes(lab, VM);
    const t2 = Date.now();
    // With the retention lowered to one point: the older two go, the disks stay exact.
    const { hash: _, ...lowered } = {
      ...lab.plan,
      replication: { ...lab.plan.replication, retentionPoints: 1 },
    };
    const keepOne: Plan = { ...lowered, hash: planHash(lowered) };
    const second = await reprotect(lab, keepOne);
    const secondMs = Date.now() - t2;
    expect(second.outcome, second.error).toBe('succeeded');
    const v2 = second.vms[0]!;
    expect(v2.snapshot).toBe('stopped');
    // The first reprotect's own writes at the primary are not "divergent": only writes after it are.
    expect(v2.divergentBytes).toBe(0);
    expect(v2.bytesReceived).toBeGreaterThan(0);
    expect(v2.since).toBe(`lb-reverse-${cycle.id.replace(/[^A-Za-z0-9._-]/g, '_')}`);
    expect(v2.bytesReceived).toBeLessThanOrEqual(1.1 * (changed - afterCycle) + MiB);
    const disksSize = 160 * MiB;
    expect(v2.bytesReceived).toBeLessThan(disksSize / 4);
    const cmp = await compareSites(lab, VM);
    for (const t of lab.vm.targets) expect(cmp[t], t).toMatch(/^0 Images are identical/);
    expect(v2.reversePoint).toMatchObject({ seq: 3, kept: 1, dropped: [first.id, cycle.id] });
    expect(reversePointsAtPrimary()).toEqual([{ seq: 3, undo: false }]);
    console.log(
      `reprotect: running ${firstMs} ms, ${v1.bytesReceived} bytes on the link (overlay ${v1.overlayBytes}); reverse cycle running ${vc.bytesReceived} bytes for ${afterCycle - changedRunning} new in the overlays; stopped ${secondMs} ms, ${v2.bytesReceived} bytes for ${changed - afterCycle} new (overlays ${changed}, disks ${disksSize})`,
    );
  });

  it('a worker killed mid-reprotect resumes: nothing shipped twice, both sides identical', async () => {
    // The VM writes at the secondary again, then stops; the old primary's worker dies once the
    // divergence is computed, and is started again.
    await virshAt('secondary', ['start', VM]);
    const serial = hostPathOf(
      'secondary',
      (await secondaryDisks(VM)).vdb!.replace(/\/[^/]+$/, '/serial.log'),
    );
    const before = lastAckIn(serial);
    const deadline = Date.now() + 180_000;
    while (lastAckIn(serial) < before + 10 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    await shutOff('secondary', VM);
    const changed = await overlayBytes(lab, VM);
    const op = await startOperation(lab.client, {
      plan: lab.plan,
      kind: 'reprotect',
      requestedBy: 'reprotect-test',
    });
    const key = op.id.replace(/[^A-Za-z0-9._-]/g, '_');
    const mark = hostPathOf(
      'primary',
      path.posix.join(SITE_STORAGE_PATH, 'reprotect', VM, key, 'divergence.json'),
    );
    const until = Date.now() + 300_000;
    while (!existsSync(mark) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(mark)).toBe(true);
    process.kill(lab.workerPids.primary, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    await lab.startSiteWorker('primary');
    const r = (await lab.client.workflow.getHandle(op.id).result()) as ReprotectResult;
    expect(r.outcome, r.error).toBe('succeeded');
    const v = r.vms[0]!;
    expect(v.divergentBytes).toBe(0);
    expect(v.bytesReceived).toBeLessThanOrEqual(1.1 * changed + MiB);
    // The secondary's server counted what it sent for this delta: once; one reverse point made.
    expect(v.bytesSent).toBe(v.bytesReceived);
    expect(v.reversePoint).toMatchObject({ seq: 4, kept: 2, undoBytes: v.deltaBytes });
    expect(reversePointsAtPrimary()).toEqual([
      { seq: 3, undo: false },
      { seq: 4, undo: true },
    ]);
    const cmp = await compareSites(lab, VM);
    for (const t of lab.vm.targets) expect(cmp[t], t).toMatch(/^0 Images are identical/);
    console.log(
      `reprotect with the old primary's worker killed: ${v.bytesReceived} bytes for ${changed} changed`,
    );
  });

  it('with the old primary’s bitmap gone, finds its divergence by block digests against the point', async () => {
    // The VM is stopped at the secondary; the bitmap the last reprotect left on the primary's
    // data disk goes, so that disk's divergence can only come from digests (the root disk keeps
    // its bitmap). Against the point, the earlier reprotects' writes count too: kept aside.
    const data = lab.vm.hostDisks[1]!;
    const { stdout } = await pexec('qemu-img', ['info', '--output=json', data]);
    const bitmaps = (
      JSON.parse(stdout) as { 'format-specific'?: { data?: { bitmaps?: Array<{ name: string }> } } }
    )['format-specific']?.data?.bitmaps?.map((b) => b.name);
    const gone = bitmaps?.filter((b) => b.startsWith('lb-reprotect-')) ?? [];
    expect(gone.length).toBe(1);
    await pexec('qemu-img', ['bitmap', '--remove', data, gone[0]!]);
    const r = await reprotect(lab, lab.plan);
    expect(r.outcome, r.error).toBe('succeeded');
    const v = r.vms[0]!;
    expect(v.fullReason).toBeUndefined();
    expect(v.byDigests).toEqual([lab.vm.targets[1]]);
    expect(v.divergentBytes).toBeGreaterThan(0);
    expect(v.divergentBytes).toBeLessThan(160 * MiB);
    expect(v.sideDir).toBeDefined();
    // Written since (as far as digests tell): the earlier points no longer follow from the disks.
    expect(v.reversePoint).toMatchObject({ seq: 1, kept: 1, undoBytes: 0 });
    expect(v.reversePoint?.restartedBecause).toContain('was written at site primary since the last one');
    const cmp = await compareSites(lab, VM);
    for (const t of lab.vm.targets) expect(cmp[t], t).toMatch(/^0 Images are identical/);
    console.log(
      `reprotect by digests: ${v.divergentBytes} divergent bytes kept aside, ${v.bytesReceived} on the link`,
    );
    await saveHistory(lab.client, r.id, 'reprotectWorkflow', 'reprotect-digest-fallback');
  });

  it('after a disaster failover keeps the primary’s blocks written after the point in a side file, then overwrites them', async () => {
    // Back to a fresh start: the primary runs again, with a point behind it.
    await removeAtSecondary(VM);
    rmSync(hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'reprotect')), {
      recursive: true,
      force: true,
    });
    const plan = await lab.variant(`rpd-${Date.now().toString(36)}`, {
      consistency: 'crash',
      groupExtra: GROUP,
    });
    disasterPlan = plan;
    await virshAt('primary', ['start', VM]).catch(() => undefined);
    const c = await lab.cycle(plan);
    expect((await c.result).outcome).toBe('succeeded');
    const afterPoint = lastAckIn(lab.vm.serialLog);
    // The primary keeps writing after the point; then the disaster failover fences it.
    const deadline = Date.now() + 60_000;
    while (lastAckIn(lab.vm.serialLog) < afterPoint + 15 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    await failoverCommitted(lab, plan, 'disaster');
    expect((await virshAt('primary', ['domstate', VM])).trim()).toBe('shut off');
    const keep = mkdtempSync(path.join(tmpdir(), 'rpd-'));
    const copies = lab.vm.hostDisks.map((d, i) => {
      const to = path.join(keep, `${lab.vm.targets[i]}.qcow2`);
      copyFileSync(d, to);
      return to;
    });
    await shutOff('secondary', VM);

    const r = await reprotect(lab, plan);
    expect(r.outcome, r.error).toBe('succeeded');
    const v = r.vms[0]!;
    expect(v.fullReason).toBeUndefined();
    expect(v.divergentBytes).toBeGreaterThan(0);
    expect(v.sideDir).toBeDefined();
    const side = hostPathOf('primary', v.sideDir as string);
    const index = JSON.parse(readFileSync(path.join(side, 'delta.json'), 'utf8')) as {
      disks: Array<{ target: string; file: string; extents: Array<{ start: number; length: number }> }>;
    };
    expect(index.disks.length).toBeGreaterThan(0);
    // The side file holds exactly the primary's bytes from before the reprotect.
    for (const d of index.disks) {
      const copy = copies[lab.vm.targets.indexOf(d.target)]!;
      const data = readFileSync(path.join(side, d.file));
      let pos = 0;
      for (const e of d.extents) {
        const out = path.join(keep, 'range.raw');
        await pexec('qemu-img', [
          'convert',
          '-O',
          'raw',
          '--image-opts',
          `driver=raw,offset=${e.start},size=${e.length},file.driver=qcow2,file.file.driver=file,file.file.filename=${copy}`,
          out,
        ]);
        expect(readFileSync(out).equals(data.subarray(pos, pos + e.length)), `${d.target} @${e.start}`).toBe(
          true,
        );
        pos += e.length;
      }
    }
    const cmp = await compareSites(lab, VM);
    for (const t of lab.vm.targets) expect(cmp[t], t).toMatch(/^0 Images are identical/);
    expect(existsSync(side)).toBe(true);
    rmSync(keep, { recursive: true, force: true });

    // Listed until an operator discards them, with a reason; the discard is recorded.
    const listed = await divergentBlocks(lab.client, plan);
    expect(listed.kept.map((k) => [k.vm, k.bytes])).toEqual([[VM, v.divergentBytes]]);
    // `lifeboat status` lists them (through the reprotect's result, which names the old primary).
    let shown: Awaited<ReturnType<typeof divergentStatus>> = [];
    for (let i = 0; i < 40 && shown.length === 0; i++) {
      const ops = await listOperations(lab.client, { runbook: plan.runbook.name });
      shown = await divergentStatus(lab.client, [...ops.inFlight, ...ops.recent]);
      if (shown.length === 0) await new Promise((res) => setTimeout(res, 500));
    }
    expect(shown.map((x) => [x.runbook, x.answer?.kept.length])).toEqual([[plan.runbook.name, 1]]);
    expect(renderDivergentStatus(shown)).toContain(`${VM}: `);
    await expect(divergentBlocks(lab.client, plan, { by: 'reprotect-test', reason: ' ' })).rejects.toThrow();
    expect(existsSync(side)).toBe(true);
    const discardId = `divergent/${plan.runbook.name}/discard`;
    const after = await divergentBlocks(
      lab.client,
      plan,
      { by: 'reprotect-test', reason: 'checked: test writes only' },
      { workflowId: discardId },
    );
    await saveHistory(lab.client, discardId, 'divergentBlocksWorkflow', 'discard');
    expect(after.kept).toEqual([]);
    expect(existsSync(side)).toBe(false);
    expect(after.discarded.at(-1)).toMatchObject({
      by: 'reprotect-test',
      reason: 'checked: test writes only',
      removed: [expect.objectContaining({ vm: VM, bytes: v.divergentBytes })],
    });
    await saveHistory(
      lab.client,
      `runbook/${plan.runbook.name}/reprotect/1`,
      'reprotectWorkflow',
      'reprotect-disaster-divergent',
    );
  });
  it('fails back: the secondary shut down, a final reprotect, no record lost, the primary started; protection resumes incrementally', async () => {
    const plan = disasterPlan as Plan;
    expect(plan).toBeDefined();
    await virshAt('secondary', ['start', VM]);
    const serial = hostPathOf(
      'secondary',
      (await secondaryDisks(VM)).vdb!.replace(/\/[^/]+$/, '/serial.log'),
    );
    const before = lastAckIn(serial);
    const deadline = Date.now() + 180_000;
    while (lastAckIn(serial) < before + 10 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    const bootsAtSecondary = lastBoots(serial);
    expect(bootsAtSecondary).toBeGreaterThan(0);
    // A reverse cycle while it runs there (the first since this failover's reprotect took no
    // checkpoint: the VM was stopped); the failback's final reprotect then ships only the tail.
    const reverse = await reprotect(lab, plan);
    expect(reverse.outcome, reverse.error).toBe('succeeded');
    expect(reverse.vms[0]?.snapshot).toBe('backup');

    // The disaster failover fenced the primary at its own site: its driver refuses to start the
    // VM until the failback lifts the fence there (moved aside, with who and why).
    const fences = hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'fences'));
    expect(existsSync(path.join(fences, `${plan.runbook.name}.json`))).toBe(true);
    // As an operator does it: the binary, `failback --wait`, its outcome and evidence lines.
    const { address, namespace } = testServer();
    const file = path.join(lab.home, `${plan.runbook.name}.yaml`);
    const run = await runCli(
      ['failback', file, '--wait', '--shutdown-timeout', '60'],
      { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, LIFEBOAT_HOME: lab.home },
      900_000,
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const started = /failback started: (\S+); waiting/.exec(run.stderr);
    expect(started, run.stderr).not.toBeNull();
    const op = { id: started![1]! };
    const r = (await lab.client.workflow.getHandle(op.id).result()) as OperationResult;
    expect(r.outcome, r.error).toBe('succeeded');
    expect(run.stdout).toContain(`${op.id}: succeeded`);
    expect(run.stdout).toMatch(/^failback: downtime \d/m);
    expect(run.stdout).toMatch(/^records lost: 0, [1-9]\d* moved home, \d+ disk\(s\) compared$/m);
    expect(run.stdout).toMatch(
      /^final reprotect: .* on the link for 1 VM\(s\), 1 of them only the tail since the last reverse cycle$/m,
    );
    expect(run.stdout).toMatch(new RegExp(`^boots at the primary: ${VM} ${bootsAtSecondary + 1}$`, 'm'));
    expect(run.stdout).toMatch(
      /^cleaned up: failover VMs removed at the secondary \(rpt-db\), [1-9]\d* reprotect bitmap\(s\) removed/m,
    );
    expect(run.stdout).toMatch(/^report: .*\.html$/m);
    await saveHistory(lab.client, op.id, 'operationWorkflow', 'failback-final-reprotect');
    expect((await virshAt('primary', ['domstate', VM])).trim()).toBe('running');

    // Its evidence: type failback, signed and chained after the failover's, no record lost.
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    expect([evidence.type, evidence.verdict, evidence.verdictReasons]).toEqual(['failback', 'pass', []]);
    expect(r.report?.id).toBe(op.id);
    const fb = evidence.failback!;
    expect(fb.downtimeMs).toBeGreaterThan(0);
    expect(fb.shutdown.map((s) => [s.vm, s.wasRunning])).toEqual([[VM, true]]);
    expect(fb.dataProof.length).toBeGreaterThan(0);
    expect(fb.dataProof.every((d) => d.identical && d.lost === 0)).toBe(true);
    expect(fb.recordsLost).toBe(0);
    expect(fb.recordsMoved).toBeGreaterThan(0);
    expect(fb.finalReprotect.map((x) => [x.vm, x.fullReason, x.since])).toEqual([
      [VM, undefined, `lb-reverse-${reverse.id.replace(/[^A-Za-z0-9._-]/g, '_')}`],
    ]);
    expect(fb.fenceLifted?.lifted).toBe(true);
    expect(evidence.objectives.rpo).toMatchObject({ measuredMs: 0, pass: true });
    const env = { ...process.env, LIFEBOAT_HOME: lab.home };
    const show = await runCli(['report', 'show', op.id], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^failback: downtime \d/m);
    expect(show.stdout).toMatch(/^records lost: 0, \d+ moved home/m);
    const verified = await runCli(
      ['report', 'verify', path.join(lab.home, 'reports', plan.runbook.name)],
      env,
    );
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/: 2 report\(s\), key sha256:[0-9a-f]+: OK/);

    // Cleaned up: the secondary's stopped failover VM and its overlays are gone (the next
    // failover must not find them); the reprotect bitmaps are off the primary's disks.
    expect(await stateAt('secondary', VM)).toBeUndefined();
    expect(existsSync(path.dirname(serial))).toBe(false);
    expect(fb.cleanup).toEqual([
      expect.objectContaining({
        vm: VM,
        removed: [`domain ${VM}`, expect.stringContaining('/restores/failover-')],
      }),
    ]);
    expect(fb.bitmapsRemoved?.length).toBeGreaterThan(0);
    expect(fb.bitmapsRemoved?.every((b) => b.bitmap.startsWith('lb-reprotect-'))).toBe(true);
    for (const disk of lab.vm.hostDisks) {
      const { stdout } = await pexec('qemu-img', ['info', '-U', '--output=json', disk]);
      const info = JSON.parse(stdout) as {
        'format-specific'?: { data?: { bitmaps?: Array<{ name: string }> } };
      };
      const names = (info['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);
      expect(
        names.filter((n) => n.startsWith('lb-reprotect-')),
        disk,
      ).toEqual([]);
    }
    const mark = path.posix.join(SITE_STORAGE_PATH, 'reprotect', VM, 'reprotected.json');
    expect(existsSync(hostPathOf('primary', mark))).toBe(false);
    expect(reversePointsAtPrimary()).toEqual([]);
    expect(existsSync(path.join(fences, `${plan.runbook.name}.json`))).toBe(false);
    const lifted = readdirSync(path.join(fences, 'lifted')).map((f) =>
      JSON.parse(readFileSync(path.join(fences, 'lifted', f), 'utf8')),
    );
    expect(lifted).toContainEqual(
      expect.objectContaining({ lifted: expect.objectContaining({ operationId: op.id }) }),
    );
    // The secondary's serial log went with its overlays: its last record is the evidence's.
    const lastAtSecondary = Math.max(...fb.dataProof.map((d) => d.secondarySeq));
    expect(lastAtSecondary).toBeGreaterThan(before);
    expect(fb.boots).toEqual([expect.objectContaining({ vm: VM, boots: bootsAtSecondary + 1 })]);
    // The primary booted once more from the disks the secondary left, and writes on after them.
    const until = Date.now() + 180_000;
    while (lastBoots(lab.vm.serialLog) !== bootsAtSecondary + 1 && Date.now() < until)
      await new Promise((res) => setTimeout(res, 500));
    expect(lastBoots(lab.vm.serialLog)).toBe(bootsAtSecondary + 1);
    const next = await waitWorkload(lab.vm, lastAtSecondary, 180_000);
    expect(next).toBeGreaterThan(lastAtSecondary);
    const state = await runbookState(lab.client, plan.runbook.name);
    expect([state.phase, state.activeSite]).toEqual(['failed-back', 'primary']);
    expect(state.protectionDirection).toMatchObject({ from: 'primary', to: 'secondary', by: op.id });

    // Protection in the original direction continues from the common point: no full copy.
    const c = await lab.cycle(plan);
    const cycle = await c.result;
    expect(cycle.outcome).toBe('succeeded');
    const v = cycle.vms[0]!;
    expect([v.kind, v.fullReason, v.resync]).toEqual(['incremental', undefined, undefined]);
    console.log(
      `failback: ${r.outcome}; the next cycle ${v.kind}, ${v.bytesReceived} bytes on the link (disks ${160 * MiB})`,
    );
  });
});
