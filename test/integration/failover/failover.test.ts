/**
 * Planned failover on the real lab, the workload writing all along: the primary's VM shut down,
 * a final cycle, the last record written before shutdown proven in the final point (read
 * offline), the VM built at the secondary from that point (overlay, same UUID, production
 * network, persistent) and checked; then a rollback that starts the primary's VM again with
 * every record, and a commit after which replication in the old direction is refused.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFailover, runbookState, startOperation } from '../../../cli/runbook-client.ts';
import { hostPathOf, hostUri, SITE_STORAGE_PATH } from '../../../lab/config.ts';
import { parseEvidence } from '../../../reports/evidence.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import { progressQuery } from '../../../workflows/messages.ts';
import type { OperationResult } from '../../../workflows/types.ts';
import { saveHistory } from '../../support/histories.ts';
import { type CycleLab, startCycleLab } from '../replication-cycle/harness.ts';
import { virshPrimary, waitWorkload } from '../replication-cycle/lab-vm.ts';

const pexec = promisify(execFile);
const VM = 'fov-db';
const GROUP = `    onFailure: rollback
    checks:
      - serial: { pattern: "LIFEBOAT-READY vm=${VM}", within: 2m }
      - agent: { command: [/health.sh], expect: "LIFEBOAT-HEALTH", within: 2m }
      - data: {}
failover:
  commitWithin: 30m
  onCommitTimeout: rollback
`;

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

    await commitFailover(lab.client, { operationId: id, decision: 'rollback', reason: 'failover test' });
    const r = await result(lab, id);
    expect(r.outcome, r.error).toBe('rolled-back');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, id, 'operationWorkflow', 'failover-planned-rollback');
    expect(evidence.type).toBe('failover');
    expect(evidence.failover?.mode).toBe('planned');
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
    await commitFailover(lab.client, { operationId: op.id, decision: 'rollback', reason: 'failover test' });
    const r = await result(lab, op.id);
    expect(r.outcome, r.error).toBe('rolled-back');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, op.id, 'operationWorkflow', 'failover-disaster-rollback');
    expect(evidence.failover?.mode).toBe('disaster');
    expect(evidence.failover?.fence).toMatchObject({ by: 'failover-test', primaryAnswered: true });
    expect(evidence.pointSet?.pointId).toMatch(new RegExp(`-${c.id.split('/').at(-1)}$`));
    expect(evidence.objectives.rpo.measuredMs).toBeGreaterThanOrEqual(0);
    expect(await secondaryState(VM)).toBeUndefined();
    expect((await virshPrimary(['domstate', VM])).trim()).toBe('running');
  });

  it('a committed failover refuses replication in the old direction', async () => {
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
    const id = await failover(lab, lab.plan);
    await waitState(lab, id, 'waiting-commit', 600_000);
    await commitFailover(lab.client, { operationId: id, decision: 'commit', reason: 'failover test' });
    const r = await result(lab, id);
    expect(r.outcome, r.error).toBe('succeeded');
    expect(r.verdict, (r.verdictReasons ?? []).join('; ')).toBe('pass');
    await saveHistory(lab.client, id, 'operationWorkflow', 'failover-planned-commit');
    const state = await runbookState(lab.client, lab.plan.runbook.name);
    expect(state.phase).toBe('failed-over-committed');
    expect(state.activeSite).toBe('secondary');
    expect(await secondaryState(VM)).toBe('running');
    await expect(lab.cycle()).rejects.toThrow(/failed-over-committed/);
  });
});
