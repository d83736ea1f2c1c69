/**
 * Planned failover on the real lab, the workload writing all along: the primary's VM shut down,
 * a final cycle, the last record written before shutdown proven in the final point (read
 * offline), the VM built at the secondary from that point (overlay, same UUID, production
 * network, persistent) and checked; then a rollback that starts the primary's VM again with
 * every record, and a commit after which replication in the old direction is refused.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicKeyLine } from '../../../approvals/keys.ts';
import { commitFailover, runbookState, startOperation } from '../../../cli/runbook-client.ts';
import { unfence } from '../../../cli/unfence-client.ts';
import { VmFencedError } from '../../../drivers/errors.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { hostPathOf, hostUri, SITE_STORAGE_PATH } from '../../../lab/config.ts';
import { labIsolate, labKillSite, labRejoin } from '../../../lab/control.ts';
import { labRevive } from '../../../lab/lab.ts';
import { controllerWorkflowId } from '../../../platform/names.ts';
import { parseEvidence } from '../../../reports/evidence.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import { progressQuery } from '../../../workflows/messages.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { readLastRecord } from '../../../workload/reader.ts';
import { runCli } from '../../support/cli.ts';
import { saveHistory } from '../../support/histories.ts';
import { testServer } from '../../support/temporal.ts';
import { type CycleLab, startCycleLab } from '../replication-cycle/harness.ts';
import { virshPrimary, waitWorkload } from '../replication-cycle/lab-vm.ts';

const pexec = promisify(execFile);
const VM = 'fov-db';
/** The incident commander who may lift a fence, with a key made for this run. */
const alice = ed25519.keygen();
const aliceKey = { name: 'alice', secretKey: alice.secretKey, publicKey: publicKeyLine(alice.publicKey) };
const GROUP = `    onFailure: rollback
    checks:
      - serial: { pattern: "LIFEBOAT-READY vm=${VM}", within: 2m }
      - agent: { command: [/health.sh], expect: "LIFEBOAT-HEALTH", within: 2m }
      - data: {}
failover:
  commitWithin: 30m
  onCommitTimeout: rollback
operators:
  alice:
    key: "${publicKeyLine(alice.publicKey)}"
roles:
  incident-commander: [alice]
`;

/** alice's key where the CLI looks for it (`--operator alice`). */
const operatorDir = mkdtempSync(path.join(tmpdir(), 'lifeboat-fov-operators-'));
writeFileSync(
  path.join(operatorDir, 'alice.key'),
  `${JSON.stringify({ name: 'alice', secretKey: Buffer.from(alice.secretKey).toString('base64'), publicKey: aliceKey.publicKey })}\n`,
  { mode: 0o600 },
);

/** The real `lifeboat` binary against this run's server, with alice's key at hand. */
function cli(lab: CycleLab, args: string[]) {
  const { address, namespace } = testServer();
  return runCli(args, {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    LIFEBOAT_HOME: lab.home,
    LIFEBOAT_OPERATOR_DIR: operatorDir,
  });
}

async function virshSecondary(args: string[]): Promise<string> {
  const { stdout } = await pexec('virsh', ['-q', '-c', hostUri('secondary'), ...args], { timeout: 60_000 });
  return stdout.trim();
}

async function secondaryState(vm: string): Promise<string | undefined> {
  return virshSecondary(['domstate', vm]).catch(() => undefined);
}

async function removeAtSecondary(vm: string): Promise<void> {
  await virshSecondary(['destroy', vm]).catch(() => undefined);
  await virshSecondary(['undefine', vm]).catch(() => undefined);
}

function lastAckIn(file: string): number {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  let last = 0;
  for (const m of text.matchAll(/^LBACK vm=\S+ seq=(\d+)/gm)) last = Math.max(last, Number(m[1]));
  return last;
}

async function waitState(lab: CycleLab, id: string, state: string, timeoutMs: number): Promise<void> {
  const handle = lab.client.workflow.getHandle(id);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p?.state === state) return;
    if (p && ['failed', 'rolled-back', 'cancelled', 'succeeded'].includes(p.state))
      throw new Error(`${id} ended ${p.state}: ${p.error}`);
    last = p ? `${p.state} ${Object.values(p.groups).map((g) => `${g.name}:${g.step ?? g.state}`)}` : last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${id} not ${state} within ${timeoutMs} ms (last: ${last})`);
}

function result(lab: CycleLab, id: string): Promise<OperationResult> {
  return lab.client.workflow
    .getHandle(id)
    .result()
    .then(
      (r: OperationResult) => r,
      (err: { cause?: { details?: unknown[] } }) => err.cause?.details?.[0] as OperationResult,
    );
}

async function failover(lab: CycleLab, plan: Plan): Promise<string> {
  const op = await startOperation(lab.client, {
    plan,
    kind: 'failover',
    options: { mode: 'planned', shutdownDeadlineMs: 60_000 },
    requestedBy: 'failover-test',
  });
  return op.id;
}

describe('planned failover (real lab)', () => {
  let lab: CycleLab;

  beforeAll(async () => {
    await removeAtSecondary(VM);
    lab = await startCycleLab({ vmName: VM, runbook: `fov-${Date.now().toString(36)}`, groupExtra: GROUP });
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
  });
  afterAll(async () => {
    await removeAtSecondary(VM);
    rmSync(hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'restores')), {
      recursive: true,
      force: true,
    });
    await lab?.close();
    rmSync(operatorDir, { recursive: true, force: true });
  });

  it('moves the VM with zero records lost, and a rollback starts the primary again with every record', async () => {
    const uuid = (await virshPrimary(['domuuid', VM])).trim();
    const t0 = Date.now();
    const id = await failover(lab, lab.plan);
    await waitState(lab, id, 'waiting-commit', 600_000);
    const upMs = Date.now() - t0;

    // Running at the secondary, persistent, with the primary's UUID, on an overlay of the point.
    expect(await secondaryState(VM)).toBe('running');
    expect(await virshSecondary(['domuuid', VM])).toBe(uuid);
    expect(await virshSecondary(['dominfo', VM])).toMatch(/Persistent:\s+yes/);
    expect(await virshSecondary(['domblklist', VM])).toMatch(/restores\/failover-/);
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('shut off');
    expect((await runbookState(lab.client, lab.plan.runbook.name)).phase).toBe('failed-over-uncommitted');

    // The copy goes on writing right after the primary's last record: nothing was lost.
    const dir = hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'restores'));
    const n = id.split('/').at(-1);
    const serial = path.join(dir, `failover-${lab.plan.runbook.name}-${n}`, VM, 'serial.log');
    const primaryLast = lastAckIn(lab.vm.serialLog);
    const deadline = Date.now() + 120_000;
    while (lastAckIn(serial) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(lastAckIn(serial)).toBeGreaterThan(primaryLast);

    // The runbook names operators: an unsigned decision is refused, nothing changes.
    await expect(
      commitFailover(lab.client, { operationId: id, decision: 'commit', reason: 'unsigned', by: 'mallory' }),
    ).rejects.toMatchObject({ code: 'UNSIGNED' });
    await commitFailover(lab.client, {
      operationId: id,
      decision: 'rollback',
      reason: 'failover test',
      key: aliceKey,
    });
    const r = await result(lab, id);
    expect(r.outcome, r.error).toBe('rolled-back');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, id, 'operationWorkflow', 'failover-planned-rollback');
    expect(evidence.type).toBe('failover');
    expect(evidence.failover?.mode).toBe('planned');
    expect(evidence.approvals).toEqual([
      expect.objectContaining({
        stepId: 'commit',
        group: '(operation)',
        decision: 'rollback-failover',
        operator: 'alice',
        role: 'incident-commander',
        reason: 'failover test',
      }),
    ]);
    expect(evidence.failover?.shutdown.map((s) => [s.vm, s.wasRunning])).toEqual([[VM, true]]);
    expect(['agent', 'acpi', 'forced']).toContain(evidence.failover?.shutdown[0]?.method);
    expect(evidence.failover?.finalCycle?.outcome).toBe('succeeded');
    const proof = evidence.failover?.dataProof ?? [];
    expect(proof.map((p) => p.target).sort()).toEqual(['vdb', 'vdc']);
    expect(proof.every((p) => p.identical && p.lost === 0 && p.primarySeq > 0)).toBe(true);
    expect(evidence.failover?.recordsLost).toBe(0);
    expect(evidence.failover?.primaryRestarted).toEqual([expect.objectContaining({ vm: VM, ok: true })]);
    expect(evidence.checks.map((c) => [c.kind, c.outcome])).toEqual(
      expect.arrayContaining([
        ['serial', 'passed'],
        ['agent', 'passed'],
        ['data', 'passed'],
      ]),
    );

    // Gone from the secondary, overlays included; the primary runs again and keeps writing on.
    expect(await secondaryState(VM)).toBeUndefined();
    expect(existsSync(path.join(dir, `failover-${lab.plan.runbook.name}-${n}`))).toBe(false);
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('running');
    const highest = Math.max(...proof.map((p) => p.primarySeq));
    expect(await waitWorkload(lab.vm, highest, 180_000)).toBeGreaterThan(highest);
    expect((await runbookState(lab.client, lab.plan.runbook.name)).phase).toBe('normal');
    console.log(`planned failover: up at the secondary (waiting for commit) after ${upMs} ms`);
  });

  it('a disaster failover fences the answering primary (who, why), builds from the newest point, and a rollback restarts the primary', async () => {
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
    await virshPrimary(['autostart', VM]);
    // Through the CLI: the primary answers and is not fenced, so one --yes is not enough.
    const guarded = await cli(lab, ['failover', lab.runbookFile, '--disaster', '--yes']);
    expect(guarded.code, guarded.stderr).toBe(2);
    expect(guarded.stderr).toMatch(
      new RegExp(
        `the primary \\(primary\\) answers and is not fenced; running there: ${VM}.*Nothing was started`,
      ),
    );
    expect(guarded.stderr).toMatch(/--yes --yes.*--acknowledge-fence/);
    expect((await runbookState(lab.client, lab.plan.runbook.name)).inFlight).toEqual([]);
    const op = await startOperation(lab.client, {
      plan: lab.plan,
      kind: 'failover',
      options: { mode: 'disaster' },
      requestedBy: 'failover-test',
    });
    await waitState(lab, op.id, 'waiting-commit', 600_000);
    const state = await runbookState(lab.client, lab.plan.runbook.name);
    expect(state.fence).toMatchObject({ site: 'primary', by: 'failover-test' });
    expect(await secondaryState(VM)).toBe('running');
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('shut off');
    await commitFailover(lab.client, {
      operationId: op.id,
      decision: 'rollback',
      reason: 'failover test',
      key: aliceKey,
    });
    const r = await result(lab, op.id);
    expect(r.outcome, r.error).toBe('rolled-back');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, op.id, 'operationWorkflow', 'failover-disaster-rollback');
    expect(evidence.failover?.mode).toBe('disaster');
    expect(evidence.failover?.fence).toMatchObject({ by: 'failover-test', primaryAnswered: true });
    expect(evidence.failover?.fence?.enforced?.vms[0]?.detail).toMatch(/autostart turned off/);
    expect(evidence.pointSet?.pointId).toMatch(new RegExp(`-${c.id.split('/').at(-1)}$`));
    expect(evidence.objectives.rpo.measuredMs).toBeGreaterThanOrEqual(0);
    expect(await secondaryState(VM)).toBeUndefined();
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('running');
    // The fence turned autostart off; the rollback left it as it was before the failover.
    expect(await virshPrimary(['dominfo', VM])).toMatch(/Autostart:\s+enable/);
    await virshPrimary(['autostart', '--disable', VM]);
  });

  it('a committed failover (`lifeboat commit`, signed) refuses replication in the old direction', async () => {
    const name = lab.plan.runbook.name;
    const none = await cli(lab, ['commit', name, '--reason', 'nothing waits', '--operator', 'alice']);
    expect(none.code, none.stderr).toBe(1);
    expect(none.stderr).toMatch(
      new RegExp(`refused \\(NOT_WAITING_COMMIT\\): no failover of ${name} is in flight`),
    );
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
    const id = await failover(lab, lab.plan);
    await waitState(lab, id, 'waiting-commit', 600_000);
    const committed = await cli(lab, ['commit', name, '--reason', 'failover test', '--operator', 'alice']);
    expect(committed.code, committed.stderr).toBe(0);
    expect(committed.stdout).toBe(`${id}: commit signed by alice (incident-commander)\n`);
    const r = await result(lab, id);
    expect(r.outcome, r.error).toBe('succeeded');
    expect(r.verdict, (r.verdictReasons ?? []).join('; ')).toBe('pass');
    await saveHistory(lab.client, id, 'operationWorkflow', 'failover-planned-commit');
    const state = await runbookState(lab.client, lab.plan.runbook.name);
    expect(state.phase).toBe('failed-over-committed');
    expect(state.activeSite).toBe('secondary');
    expect(await secondaryState(VM)).toBe('running');
    await expect(lab.cycle()).rejects.toThrow(/failed-over-committed/);

    // The controller's whole history lost: the next command finds the state both sites kept.
    let kept = state;
    for (let i = 0; i < 300; i++) {
      kept = await runbookState(lab.client, name);
      const book = kept.durable;
      const acked = Object.values(book?.acked ?? {}).filter((a) => a.version === book?.version && !a.error);
      if (book?.record?.state.phase === 'failed-over-committed' && acked.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await lab.client.workflow.getHandle(controllerWorkflowId(name)).terminate('test: the controller is lost');
    await expect(lab.cycle()).rejects.toThrow(/failed-over-committed/);
    const restored = await runbookState(lab.client, name);
    expect(restored).toMatchObject({
      phase: 'failed-over-committed',
      activeSite: 'secondary',
      counters: kept.counters,
    });
    expect(restored.durable?.restored?.version).toBe(kept.durable?.version);
    const status = await cli(lab, ['status', '--runbook', name]);
    expect(status.stdout).toMatch(
      new RegExp(
        `${name}: version \\d+, failed-over-committed, production at secondary; held by \\S+ v\\d+, \\S+ v\\d+`,
      ),
    );
  });
  it('a disaster failover with the primary cut off: fenced by its worker when it rejoins (VM stopped, autostart off, start refused), records lost counted from its disks; unfence lifts it', async () => {
    // After the commit above: the VM back at the primary, under a runbook of its own (normal phase).
    await removeAtSecondary(VM);
    await virshPrimary(['start', VM]).catch(() => undefined); // already running when run alone
    const plan = await lab.variant(`${lab.plan.runbook.name}-d`, { consistency: 'crash', groupExtra: GROUP });
    const c = await lab.cycle(plan);
    expect((await c.result).outcome).toBe('succeeded');
    const runbook = plan.runbook.name;
    await pexec('virsh', ['-c', hostUri('primary'), 'autostart', VM]);
    await labIsolate('primary');
    let id: string;
    try {
      const t0 = Date.now();
      const op = await startOperation(lab.client, {
        plan,
        kind: 'failover',
        options: { mode: 'disaster' },
        requestedBy: 'failover-test',
      });
      id = op.id;
      await waitState(lab, id, 'waiting-commit', 600_000);
      console.log(`disaster failover (primary isolated): waiting for commit after ${Date.now() - t0} ms`);
      expect(await secondaryState(VM)).toBe('running');
      // Cut off, still running: nothing reached it yet.
      expect((await virshPrimary(['domstate', VM])).trim()).toBe('running');
      const state = await runbookState(lab.client, runbook);
      expect(state.fence).toMatchObject({ site: 'primary', by: 'failover-test' });
      expect(state.fence?.enforced).toBeUndefined();
      // The workload goes on writing at the cut-off primary: these records are the loss.
      await new Promise((r) => setTimeout(r, 5_000));
    } finally {
      await labRejoin('primary');
    }
    const rejoinedAt = Date.now();

    // Back: its worker picks the fence up and obeys (its connection to the server comes back).
    const deadline = Date.now() + 420_000;
    let enforced = (await runbookState(lab.client, runbook)).fence?.enforced;
    while (!enforced && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1_000));
      enforced = (await runbookState(lab.client, runbook)).fence?.enforced;
    }
    console.log(
      `fence enforced by the primary's worker ${enforced?.at} (${Date.now() - rejoinedAt} ms after rejoin)`,
    );
    expect(enforced?.vms).toEqual([expect.objectContaining({ vm: VM })]);
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('shut off');
    expect(await virshPrimary(['dominfo', VM])).toMatch(/Autostart:\s+disable/);
    const record = JSON.parse(
      readFileSync(
        hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'fences', `${runbook}.json`)),
        'utf8',
      ),
    );
    expect(record).toMatchObject({ version: 1, runbook, vms: [VM], operationId: id, by: 'failover-test' });
    const driver = createLibvirtDriver({
      site: 'primary',
      uri: hostUri('primary'),
      storage: hostPathOf('primary', SITE_STORAGE_PATH),
    });
    const refused = await driver.startVm(VM).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(VmFencedError);
    expect(String((refused as Error).message)).toMatch(
      new RegExp(`fenced at site 'primary' by ${id}.*failover-test`),
    );
    expect((refused as VmFencedError).hint).toMatch(/lifeboat unfence/);
    // A plain `virsh start` at the fenced site is refused too: libvirt's qemu hook reads the record.
    const plain = await virshPrimary(['start', VM]).then(
      () => 'started',
      (err: Error) => err.message,
    );
    expect(plain).toMatch(
      new RegExp(`VM '${VM}' is fenced at this site by ${id} \\(acknowledged by failover-test\\)`),
    );
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('shut off');

    await commitFailover(lab.client, {
      operationId: id,
      decision: 'commit',
      reason: 'failover test',
      key: aliceKey,
    });
    const r = await result(lab, id);
    expect(r.outcome, r.error).toBe('succeeded');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, id, 'operationWorkflow', 'failover-disaster-isolated-commit');
    expect(evidence.failover?.fence).toMatchObject({ by: 'failover-test', primaryAnswered: false });
    expect(evidence.failover?.fence?.enforced?.vms.map((v) => v.vm)).toEqual([VM]);
    // Records lost: the primary's last record on each data disk (read offline, the VM stopped)
    // minus the restored point's; the workload numbers its records, so this is exact.
    const proof = evidence.failover?.dataProof ?? [];
    expect(proof.map((p) => p.target).sort()).toEqual(['vdb', 'vdc']);
    const point = evidence.pointSet?.points ?? [];
    for (const p of proof) {
      expect(p.lost).toBe(p.primarySeq - p.pointSeq);
      expect(p.lost).toBeGreaterThan(0);
    }
    expect(evidence.failover?.recordsLost).toBe(proof.reduce((n, p) => n + p.lost, 0));
    expect(evidence.failover?.recordsLostFrom).toMatch(/read offline/);
    const rpoS = (evidence.objectives.rpo.measuredMs ?? 0) / 1000;
    expect(rpoS).toBeGreaterThan(0);
    // The lost records span from the point to the fence (the cut-off primary wrote on until then).
    const windowS = (evidence.failover?.lossWindowMs ?? 0) / 1000;
    expect(windowS).toBeGreaterThan(5);
    console.log(
      `disaster failover (isolated primary): RPO ${rpoS.toFixed(1)} s at the start, loss window ${windowS.toFixed(1)} s, records lost ${evidence.failover?.recordsLost} (${proof.map((p) => `${p.target} ${p.pointSeq}->${p.primarySeq}`).join(', ')}), points ${point.length}`,
    );
    const committed = await runbookState(lab.client, runbook);
    expect(committed.phase).toBe('failed-over-committed');
    expect(committed.fence?.enforced).toBeDefined();

    // Only a signer in the runbook, with a reason, lifts it; then the site's record is gone.
    const mallory = ed25519.keygen();
    await expect(
      unfence(lab.client, {
        plan,
        reason: 'test',
        key: { name: 'mallory', secretKey: mallory.secretKey, publicKey: publicKeyLine(mallory.publicKey) },
      }),
    ).rejects.toThrow(/mallory is not in the runbook/);
    expect((await runbookState(lab.client, runbook)).fence).toBeDefined();
    const file = path.join(lab.home, `${runbook}.yaml`);
    const noReason = await cli(lab, ['unfence', file, '--operator', 'alice']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/unfence needs --reason/);
    const unfenced = await cli(lab, [
      'unfence',
      file,
      '--reason',
      'primary rebuilt, failback planned',
      '--operator',
      'alice',
      '--json',
    ]);
    expect(unfenced.code, unfenced.stderr).toBe(0);
    const lifted = JSON.parse(unfenced.stdout) as { id: string };
    expect(lifted).toMatchObject({ lifted: true, by: 'alice', site: 'primary' });
    await saveHistory(lab.client, `${id}/fence`, 'fenceSiteWorkflow', 'isolated-primary-enforced');
    await saveHistory(lab.client, lifted.id, 'unfenceWorkflow', 'lifted');
    const after = await runbookState(lab.client, runbook);
    expect(after.fence).toBeUndefined();
    expect(after.unfenced).toMatchObject({ by: 'alice', reason: 'primary rebuilt, failback planned' });
    // Lifted: the driver and a plain `virsh start` alike start it again.
    expect(await driver.startVm(VM).then(() => 'started')).toBe('started');
    await virshPrimary(['destroy', VM]);
    await virshPrimary(['start', VM]);
    await virshPrimary(['destroy', VM]).catch(() => undefined);
  }, 900_000);

  it('a disaster failover with the primary killed completes; once the site is back its worker fences it and the records lost are exact', async () => {
    await removeAtSecondary(VM);
    await virshPrimary(['start', VM]).catch(() => undefined);
    const plan = await lab.variant(`${lab.plan.runbook.name}-k`, { consistency: 'crash', groupExtra: GROUP });
    const c = await lab.cycle(plan);
    expect((await c.result).outcome).toBe('succeeded');
    const runbook = plan.runbook.name;
    // Records written after the point: acknowledged past everything acknowledged by the cycle's end.
    const ackedByCycleEnd = lastAckIn(lab.vm.serialLog);
    await waitWorkload(lab.vm, ackedByCycleEnd + 10, 240_000);
    await labKillSite('primary');
    // What the dead primary's disks hold, read offline at once from the host: the truth to match.
    const atKill = Object.fromEntries(
      await Promise.all(
        [1, 2].map(async (i) => [
          lab.vm.targets[i],
          (await readLastRecord(lab.vm.hostDisks[i] as string)).lastSeq,
        ]),
      ),
    ) as Record<string, number>;

    const t0 = Date.now();
    const op = await startOperation(lab.client, {
      plan,
      kind: 'failover',
      options: { mode: 'disaster' },
      requestedBy: 'failover-test',
    });
    await waitState(lab, op.id, 'waiting-commit', 600_000);
    console.log(`disaster failover (primary killed): waiting for commit after ${Date.now() - t0} ms`);
    expect(await secondaryState(VM)).toBe('running');
    expect((await runbookState(lab.client, runbook)).fence?.enforced).toBeUndefined();

    // The site comes back (its domains and disks as the kill left them) and its worker with it.
    const revived = await labRevive('primary');
    await lab.startSiteWorker('primary');
    const back = Date.now();
    let enforced = (await runbookState(lab.client, runbook)).fence?.enforced;
    while (!enforced && Date.now() - back < 420_000) {
      await new Promise((r) => setTimeout(r, 1_000));
      enforced = (await runbookState(lab.client, runbook)).fence?.enforced;
    }
    console.log(
      `primary revived in ${revived.reviveMs} ms; fence enforced ${Date.now() - back} ms after its worker started`,
    );
    expect(enforced?.vms).toEqual([expect.objectContaining({ vm: VM })]);
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('shut off');
    expect(await virshPrimary(['dominfo', VM])).toMatch(/Autostart:\s+disable/);

    await commitFailover(lab.client, {
      operationId: op.id,
      decision: 'commit',
      reason: 'failover test',
      key: aliceKey,
    });
    const r = await result(lab, op.id);
    expect(r.outcome, r.error).toBe('succeeded');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    expect(evidence.failover?.fence).toMatchObject({ primaryAnswered: false });
    const proof = evidence.failover?.dataProof ?? [];
    expect(proof.map((p) => p.target).sort()).toEqual(['vdb', 'vdc']);
    for (const p of proof) {
      // Exact: the primary's last record as its disks held it at the kill, minus the point's.
      expect(p.primarySeq).toBe(atKill[p.target]);
      expect(p.lost).toBe(p.primarySeq - p.pointSeq);
      expect(p.lost).toBeGreaterThan(0);
    }
    const rpoS = (evidence.objectives.rpo.measuredMs ?? 0) / 1000;
    console.log(
      `disaster failover (killed primary): RPO ${rpoS.toFixed(1)} s at the start, loss window ${((evidence.failover?.lossWindowMs ?? 0) / 1000).toFixed(1)} s, records lost ${evidence.failover?.recordsLost} (${proof.map((p) => `${p.target} ${p.pointSeq}->${p.primarySeq}`).join(', ')})`,
    );
    await saveHistory(lab.client, op.id, 'operationWorkflow', 'failover-disaster-killed-commit');
    await unfence(lab.client, {
      plan,
      reason: 'test over',
      key: aliceKey,
    });
  }, 900_000);
});
