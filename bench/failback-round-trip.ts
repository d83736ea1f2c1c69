/**
 * The full round trip on the lab runbook (`npx tsx bench/failback-round-trip.ts [--writes-s 30]`):
 * a replication cycle, a planned failover committed, the VMs writing at the secondary for a
 * while, reprotect (the delta back to the old primary), a reverse cycle `--cycle-s` (10) later
 * (only what was written since the reprotect), then the failback (the secondary shut down, a
 * final reprotect of the tail since that cycle, the primary started in order). Measured: each step's wall time, the
 * failover's and the failback's downtime and records lost from their evidence, and per VM what
 * reprotect shipped against what the secondary wrote and against the disks' size. The lab
 * runbook runs with its web gate and operators taken out (nobody approves in a bench).
 * Reprotect against disk size on plain files is bench/reprotect.ts.
 * Writes bench/results/failback-round-trip.json. Leaves the lab as it found it (reset).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { parseDocument } from 'yaml';
import { createOrchestratorActivities } from '../activities/index.ts';
import { requestReplication } from '../cli/commands/replicate.ts';
import { commitFailover, operationProgress, startOperation } from '../cli/runbook-client.ts';
import { hostPathOf, SITE_STORAGE_PATH } from '../lab/config.ts';
import { labUp } from '../lab/lab.ts';
import { borrowLab } from '../lab/lend.ts';
import { ensureLabReplicationTls } from '../lab/replication-tls.ts';
import { resolveLabRunbook } from '../lab/runbook.ts';
import { readState } from '../lab/state.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { ReplicaStore } from '../replication/store.ts';
import { type Evidence, parseEvidence } from '../reports/evidence.ts';
import { loadRunbook } from '../runbooks/index.ts';
import type { Plan } from '../runbooks/plan.ts';
import type { ReplicationCycleResult } from '../workflows/replication.ts';
import type { ReprotectResult } from '../workflows/reprotect.ts';
import type { OperationResult } from '../workflows/types.ts';
import { startLabPlatform } from './lab-platform.ts';

const KEY = 'failback-bench-worker';
const MiB = 1024 * 1024;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} wants a number >= 0`);
  return v;
}

const secs = (ms: number | undefined) => (ms === undefined ? null : Math.round(ms / 100) / 10);

/** lab.yaml without the web gate and the operators: the bench decides nothing by hand. */
async function unattendedPlan(dir: string): Promise<Plan> {
  const file = path.join(REPO_ROOT, 'runbooks', 'examples', 'lab.yaml');
  const doc = parseDocument(readFileSync(file, 'utf8'));
  doc.delete('operators');
  doc.delete('roles');
  const groups = doc.get('groups') as { items: Array<{ delete(k: string): void }> };
  for (const g of groups.items) g.delete('before');
  const out = path.join(dir, 'lab.yaml');
  writeFileSync(out, doc.toString());
  const loaded = await loadRunbook(out);
  if (!loaded.plan)
    throw new Error(`the bench's lab runbook does not compile: ${JSON.stringify(loaded.findings)}`);
  return loaded.plan;
}

async function until(client: Client, id: string, state: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const p = await operationProgress(client, id).catch(() => undefined);
    if (p?.state === state) return;
    await sleep(1_000);
  }
  throw new Error(`${id} did not reach ${state} within ${timeoutMs / 1000} s`);
}

async function operation(
  client: Client,
  plan: Plan,
  kind: 'failover' | 'failback',
): Promise<{ result: OperationResult; evidence: Evidence; ms: number }> {
  const t0 = Date.now();
  const op = await startOperation(client, {
    plan,
    kind,
    options:
      kind === 'failover' ? { mode: 'planned', shutdownDeadlineMs: 60_000 } : { shutdownDeadlineMs: 60_000 },
    requestedBy: 'failback-bench',
  });
  if (kind === 'failover') {
    await until(client, op.id, 'waiting-commit', 30 * 60_000);
    await commitFailover(client, {
      operationId: op.id,
      decision: 'commit',
      reason: 'bench',
      by: 'failback-bench',
    });
  }
  const result = (await client.workflow.getHandle(op.id).result()) as OperationResult;
  if (result.outcome !== 'succeeded') throw new Error(`${op.id} ${result.outcome}: ${result.error}`);
  const evidence = parseEvidence(JSON.parse(readFileSync(result.evidencePath as string, 'utf8')), op.id);
  return { result, evidence, ms: Date.now() - t0 };
}

async function main(): Promise<void> {
  const writesS = option('--writes-s', 30);
  const cycleS = option('--cycle-s', 10);
  const lent = await borrowLab({ stopWorkers: true });
  const labRunbook = path.join(REPO_ROOT, 'runbooks', 'examples', 'lab.yaml');
  if (!readState()?.ready || readState()?.runbook !== resolveLabRunbook(labRunbook))
    await labUp({ runbook: labRunbook });
  await ensureLabReplicationTls();
  const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-fbbench-'));
  const plan = await unattendedPlan(home);
  const vms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
  const store = new ReplicaStore(hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'replicas')));
  for (const vm of vms) rmSync(path.join(store.root, vm), { recursive: true, force: true });
  const platform = await startLabPlatform({
    home,
    key: KEY,
    activities: createOrchestratorActivities({ home }),
  });
  const { client } = platform;
  try {
    const c0 = Date.now();
    const a = await requestReplication(client, plan);
    if (!a.admitted) throw new Error(`cycle refused: ${a.message}`);
    const cycle = (await client.workflow.getHandle(a.id).result()) as ReplicationCycleResult;
    if (cycle.outcome !== 'succeeded') throw new Error(`the first cycle ${cycle.outcome}`);
    const cycleMs = Date.now() - c0;
    process.stderr.write(`failback bench: first cycle ${secs(cycleMs)} s\n`);

    const t0 = Date.now();
    const failover = await operation(client, plan, 'failover');
    process.stderr.write(
      `failback bench: failover ${secs(failover.ms)} s; writing at the secondary ${writesS} s\n`,
    );
    await sleep(writesS * 1000);

    const r0 = Date.now();
    const rp = await startOperation(client, { plan, kind: 'reprotect', requestedBy: 'failback-bench' });
    const reprotect = (await client.workflow.getHandle(rp.id).result()) as ReprotectResult;
    if (reprotect.outcome !== 'succeeded')
      throw new Error(`reprotect ${reprotect.outcome}: ${reprotect.error}`);
    const reprotectMs = Date.now() - r0;
    process.stderr.write(`failback bench: reprotect ${secs(reprotectMs)} s; writing ${cycleS} s\n`);

    // A reverse cycle (what the reverse Schedule runs): only what was written since the reprotect.
    await sleep(cycleS * 1000);
    const v0 = Date.now();
    const rc = await startOperation(client, { plan, kind: 'reprotect', requestedBy: 'failback-bench' });
    const reverse = (await client.workflow.getHandle(rc.id).result()) as ReprotectResult;
    if (reverse.outcome !== 'succeeded')
      throw new Error(`reverse cycle ${reverse.outcome}: ${reverse.error}`);
    const reverseMs = Date.now() - v0;
    process.stderr.write(`failback bench: reverse cycle ${secs(reverseMs)} s\n`);

    const failback = await operation(client, plan, 'failback');
    const roundTripMs = Date.now() - t0;
    const fb = failback.evidence.failback;
    const fo = failover.evidence.failover;

    const diskBytes = async (vm: string, pointId: string | null) => {
      if (pointId === null) return null;
      const m = await store.getPoint(vm, pointId);
      return m ? m.disks.reduce((n, d) => n + d.virtualSize, 0) : null;
    };
    const perVm = [];
    for (const v of reprotect.vms) {
      const disks = await diskBytes(v.vm, v.pointId);
      const final = fb?.finalReprotect.find((x) => x.vm === v.vm);
      perVm.push({
        vm: v.vm,
        diskMiB: disks === null ? null : Math.round(disks / MiB),
        reprotect: {
          writtenAtSecondaryBytes: v.overlayBytes,
          deltaBytes: v.deltaBytes,
          onTheLinkBytes: v.bytesReceived,
          overChanged:
            v.overlayBytes > 0 ? Math.round((v.bytesReceived / v.overlayBytes) * 1000) / 1000 : null,
          overDisk: disks ? Math.round((v.bytesReceived / disks) * 10000) / 10000 : null,
          snapshot: v.snapshot,
          fullReason: v.fullReason ?? null,
        },
        reverseCycle: (() => {
          const c = reverse.vms.find((x) => x.vm === v.vm);
          return c
            ? {
                writtenSinceReprotectBytes: c.overlayBytes,
                onTheLinkBytes: c.bytesReceived,
                since: c.since ?? null,
                sinceFailover: c.sinceFailover ?? null,
                // The reverse point it made at the old primary: what it kept to return to the one before.
                reversePoint: c.reversePoint
                  ? {
                      seq: c.reversePoint.seq,
                      undoBytes: c.reversePoint.undoBytes,
                      kept: c.reversePoint.kept,
                    }
                  : null,
              }
            : null;
        })(),
        finalReprotectOnTheLinkBytes: final?.bytesReceived ?? null,
        finalReprotectSince: final?.since ?? null,
      });
    }
    const out = {
      at: new Date().toISOString(),
      machine: 'lab (TCG, 2 vCPUs shared with other work); lab runbook (4 VMs, 3 waves) with its workloads',
      runbook: 'runbooks/examples/lab.yaml without the web gate and operators',
      writesAtSecondaryS: writesS,
      firstCycleS: secs(cycleMs),
      failover: {
        wallS: secs(failover.ms),
        downtimeS: secs(fo?.downtimeMs),
        rtoS: secs(failover.evidence.objectives.rto.measuredMs),
        recordsLost: fo?.recordsLost ?? null,
        verdict: failover.evidence.verdict,
      },
      reprotect: { wallS: secs(reprotectMs), perVm },
      reverseCycle: { afterS: cycleS, wallS: secs(reverseMs) },
      failback: {
        wallS: secs(failback.ms),
        downtimeS: secs(fb?.downtimeMs),
        rtoS: secs(failback.evidence.objectives.rto.measuredMs),
        recordsLost: fb?.recordsLost ?? null,
        recordsMoved: fb?.recordsMoved ?? null,
        finalReprotectBytes: fb?.finalReprotect.reduce((n, r) => n + r.bytesReceived, 0) ?? null,
        boots: fb?.boots.map((b) => ({ vm: b.vm, boots: b.boots })) ?? [],
        cleanedUp: fb?.cleanup?.filter((c) => c.removed.length > 0).map((c) => c.vm) ?? [],
        bitmapsRemoved: fb?.bitmapsRemoved?.length ?? 0,
        verdict: failback.evidence.verdict,
        verdictReasons: failback.evidence.verdictReasons,
      },
      roundTripS: secs(roundTripMs),
    };
    mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(REPO_ROOT, 'bench', 'results', 'failback-round-trip.json'),
      `${JSON.stringify(out, null, 2)}\n`,
    );
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await platform.close();
    rmSync(home, { recursive: true, force: true });
    // The lab goes back as it was found (reset: the VMs at the primary, nothing at the secondary).
    await lent.giveBack();
  }
}

await main();
