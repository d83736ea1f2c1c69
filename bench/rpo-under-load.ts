import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOrchestratorActivities } from '../activities/index.ts';
import { hostPathOf, SITE_STORAGE_PATH } from '../lab/config.ts';
import { labUp } from '../lab/lab.ts';
import { borrowLab } from '../lab/lend.ts';
import { ensureLabReplicationTls } from '../lab/replication-tls.ts';
import { resolveLabRunbook } from '../lab/runbook.ts';
import { readState } from '../lab/state.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { describeProtection, protectRunbook, unprotectRunbook } from '../platform/protection.ts';
import { vmRpo } from '../replication/rpo.ts';
import { ReplicaStore } from '../replication/store.ts';
import { planHash } from '../runbooks/hash.ts';
import { loadRunbook } from '../runbooks/index.ts';
import { startLabPlatform } from './lab-platform.ts';

const KEY = 'rpo-bench-worker';
const EVERY_MS = 30_000;
const SAMPLE_MS = 5_000;
const TARGET_P95_S = 60;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} wants a positive number`);
  return v;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (n: number) => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  const minutes = option('--minutes', 10);
  const lent = await borrowLab({ stopWorkers: true });
  const labRunbook = path.join(REPO_ROOT, 'runbooks', 'examples', 'lab.yaml');
  if (!readState()?.ready || readState()?.runbook !== resolveLabRunbook(labRunbook))
    await labUp({ runbook: labRunbook });
  await ensureLabReplicationTls();
  const loaded = await loadRunbook(labRunbook);
  if (!loaded.plan) throw new Error(`lab runbook does not compile: ${JSON.stringify(loaded.findings)}`);
  const plan = structuredClone(loaded.plan);
  plan.replication.everyMs = EVERY_MS;
  // The controller refuses a Plan whose hash does not match its content.
  plan.hash = planHash(plan);
  const vms = plan.groups.flatMap((g) => g.vms.map((v) => v.name));
  const store = new ReplicaStore(hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'replicas')));
  // Start from no points: the first cycle is each VM's full copy (the warm-up, measured apart).
  for (const vm of vms) rmSync(path.join(store.root, vm), { recursive: true, force: true });

  const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-rpobench-'));
  const platform = await startLabPlatform({
    home,
    key: KEY,
    activities: createOrchestratorActivities({ home }),
  });
  const { client } = platform;
  try {
    const t0 = Date.now();
    await protectRunbook(client, plan);
    // Warm-up: every VM's first point (a full copy).
    const firstPointS: Record<string, number> = {};
    while (Object.keys(firstPointS).length < vms.length) {
      if (Date.now() - t0 > 30 * 60_000) throw new Error('no first point for every VM within 30 minutes');
      for (const vm of vms) {
        if (firstPointS[vm] === undefined && (await store.listPoints(vm)).length > 0)
          firstPointS[vm] = round((Date.now() - t0) / 1000);
      }
      await sleep(2_000);
    }
    process.stderr.write(`rpo bench: warm-up done ${JSON.stringify(firstPointS)}; sampling ${minutes} min\n`);
    const samples: Record<string, number[]> = Object.fromEntries(vms.map((vm) => [vm, []]));
    const pointsAtStart: Record<string, number> = {};
    for (const vm of vms) pointsAtStart[vm] = (await store.scanPoints(vm)).points.length;
    const committed = new Map<string, Set<string>>(vms.map((vm) => [vm, new Set<string>()]));
    const end = Date.now() + minutes * 60_000;
    while (Date.now() < end) {
      const now = Date.now();
      for (const vm of vms) {
        const points = await store.listPoints(vm);
        for (const p of points) committed.get(vm)!.add(p.pointId);
        const r = vmRpo(vm, points, now);
        if (r.ageSeconds !== undefined) samples[vm]!.push(r.ageSeconds);
      }
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - now)));
    }
    const view = await describeProtection(client, plan.runbook.name);
    const perVm = Object.fromEntries(
      vms.map((vm) => {
        const s = [...samples[vm]!].sort((a, b) => a - b);
        const p95 = percentile(s, 95);
        return [
          vm,
          {
            samples: s.length,
            p50: round(percentile(s, 50)),
            p95: round(p95),
            p99: round(percentile(s, 99)),
            max: round(s.at(-1) ?? Number.NaN),
            pointsSeen: committed.get(vm)!.size,
            firstPointAfterS: firstPointS[vm],
            meetsTarget: p95 <= TARGET_P95_S,
          },
        ];
      }),
    );
    const out = {
      at: new Date().toISOString(),
      machine: 'lab (TCG, 2 vCPUs shared with other work); lab runbook VMs with their workloads',
      every: '30s',
      minutes,
      sampleEveryS: SAMPLE_MS / 1000,
      targetP95S: TARGET_P95_S,
      perVm,
      allMeetTarget: Object.values(perVm).every((v) => v.meetsTarget),
      schedule: { skippedOverlap: view.replication?.skippedOverlap ?? 0 },
    };
    mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(REPO_ROOT, 'bench', 'results', 'rpo-under-load.json'),
      `${JSON.stringify(out, null, 2)}\n`,
    );
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await unprotectRunbook(client, plan.runbook.name).catch(() => undefined);
    await platform.close();
    rmSync(home, { recursive: true, force: true });
    // The lab goes back as it was found (down, when the bench brought it up).
    await lent.giveBack();
  }
}

await main();
