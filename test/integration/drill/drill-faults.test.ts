/**
 * Drills on the real lab under faults: the orchestrator worker or the secondary's site worker
 * SIGKILLed mid-drill (each resumes and finishes once, torn down), a drill beside a replication
 * cycle, a second drill refused, and a drill with the primary site killed.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestRefusedError, startOperation } from '../../../cli/runbook-client.ts';
import { labKillSite, labReset } from '../../../lab/lab.ts';
import { REPO_ROOT } from '../../../platform/home.ts';
import { parseEvidence } from '../../../reports/evidence.ts';
import { progressQuery } from '../../../workflows/messages.ts';
import type { OperationProgress, OperationResult } from '../../../workflows/types.ts';
import { spawnWatched, type Watched } from '../../support/processes.ts';
import { testServer } from '../../support/temporal.ts';
import { type CycleLab, startCycleLab } from '../replication-cycle/harness.ts';
import { CHECKS, secondaryDomains, VM } from './helpers.ts';

function orchestratorWorker(home: string): Watched {
  const { address, namespace } = testServer();
  return spawnWatched(
    process.execPath,
    [path.join(REPO_ROOT, 'bin', 'lifeboat.mjs'), 'worker', 'orchestrator'],
    { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, LIFEBOAT_HOME: home },
    REPO_ROOT,
  );
}

async function waitProgress(
  client: Client,
  id: string,
  pred: (p: OperationProgress) => boolean,
): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const p = await client.workflow
      .getHandle(id)
      .query(progressQuery)
      .catch(() => undefined);
    if (p && pred(p)) return;
    await sleep(200);
  }
  throw new Error(`${id}: progress never matched`);
}

async function result(client: Client, id: string): Promise<OperationResult> {
  return client.workflow
    .getHandle(id)
    .result()
    .then(
      (r: OperationResult) => r,
      (err: { cause?: { details?: unknown[] } }) => err.cause?.details?.[0] as OperationResult,
    );
}

function evidenceOf(r: OperationResult) {
  return parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
}

describe('drill under faults (real lab)', () => {
  let lab: CycleLab;
  let orch: Watched;

  beforeAll(async () => {
    lab = await startCycleLab({
      vmName: VM,
      runbook: `drf-${Date.now().toString(36)}`,
      groupExtra: CHECKS,
      orchestrator: false,
    });
    orch = orchestratorWorker(lab.home);
    await orch.waitFor(/"msg":"worker started"/);
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
  });
  afterAll(async () => {
    orch?.child.kill('SIGTERM');
    await lab?.close().catch(() => undefined);
    // The last test killed the primary: the next file gets the lab back whole.
    await labReset();
  });

  it('the orchestrator worker SIGKILLed mid-boot: a new one resumes the drill, which passes and tears down once', async () => {
    const op = await startOperation(lab.client, { plan: lab.plan, kind: 'drill' });
    await waitProgress(lab.client, op.id, (p) =>
      Object.values(p.groups).some((g) => g.step === 'vms' || g.step === 'checks'),
    );
    orch.child.kill('SIGKILL');
    await orch.exited;
    orch = orchestratorWorker(lab.home);
    const r = await result(lab.client, op.id);
    expect(r.outcome, r.error).toBe('succeeded');
    const e = evidenceOf(r);
    expect(e.teardown?.proven).toBe(true);
    expect(e.replicaIntegrity?.unchanged).toBe(true);
    expect(e.checks.filter((c) => c.kind === 'data').map((c) => c.outcome)).toEqual(['passed']);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('the secondary site worker SIGKILLed mid-drill: restarted, the drill passes and tears down', async () => {
    const op = await startOperation(lab.client, { plan: lab.plan, kind: 'drill' });
    await waitProgress(lab.client, op.id, (p) => Object.values(p.groups).some((g) => g.step === 'checks'));
    process.kill(lab.workerPids.secondary, 'SIGKILL');
    await sleep(500);
    await lab.startSiteWorker('secondary');
    const r = await result(lab.client, op.id);
    expect(r.outcome, r.error).toBe('succeeded');
    expect(evidenceOf(r).teardown?.proven).toBe(true);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('runs beside a replication cycle (its points held and untouched), and a second drill is refused', async () => {
    const cycle = await lab.cycle();
    const op = await startOperation(lab.client, { plan: lab.plan, kind: 'drill' });
    const second = await startOperation(lab.client, { plan: lab.plan, kind: 'drill' }).catch(
      (e: unknown) => e,
    );
    expect(second).toBeInstanceOf(RequestRefusedError);
    expect((second as RequestRefusedError).message).toContain(op.id);
    const [c, r] = await Promise.all([cycle.result, result(lab.client, op.id)]);
    expect(c.outcome).toBe('succeeded');
    expect(r.outcome, r.error).toBe('succeeded');
    expect(evidenceOf(r).replicaIntegrity?.unchanged).toBe(true);
  });

  it('with the primary site killed, the drill still builds and checks every VM from the points alone', async () => {
    await labKillSite('primary');
    const op = await startOperation(lab.client, { plan: lab.plan, kind: 'drill' });
    const r = await result(lab.client, op.id);
    expect(r.outcome, r.error).toBe('succeeded');
    expect(r.verdict, (r.verdictReasons ?? []).join('; ')).toBe('pass');
  });
});
