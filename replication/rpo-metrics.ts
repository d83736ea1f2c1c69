/**
 * The replica store's RPO figures on the site worker's `/metrics`, computed at scrape time from
 * the manifests (a site that is the secondary has points; a primary exports nothing here):
 * `lifeboat_rpo_seconds{runbook,vm}` and `lifeboat_points_failed{runbook,vm}`. For the runbooks
 * protection runs have recorded here (replication/protected.ts) it also knows the objective and
 * the VMs with no point yet: their RPO is the time since their protection started, and
 * `lifeboat_rpo_breach{runbook,vm}` (0/1) and `lifeboat_rpo_breach_seconds{runbook,vm}` (how
 * long the current breach has lasted) are exported for every recorded VM.
 */
import { readdir } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import { type ProtectedRunbook, readProtected } from './protected.ts';
import { judgeRpo, type VmRpo, vmRpo } from './rpo.ts';
import type { ReplicaStore } from './store.ts';

interface Row extends VmRpo {
  objectiveMs?: number;
}

/** The rows of every VM in the store, or of `only` those VMs (their manifests alone are read). */
async function storeRpo(store: ReplicaStore, now: number, only?: readonly string[]): Promise<Row[]> {
  let vms: readonly string[];
  try {
    vms =
      only ??
      (await readdir(store.root, { withFileTypes: true }))
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name);
  } catch {
    return [];
  }
  const out: Row[] = [];
  for (const vm of vms) {
    try {
      const { points } = await store.scanPoints(vm);
      if (points.length > 0) out.push(vmRpo(vm, points, now));
    } catch {
      // A VM directory that cannot be read is left out of this scrape, not a failed scrape.
    }
  }
  return withProtected(out, await readProtected(store.root), now);
}

/** Adds the objective to recorded VMs, and a row (age since protection started) for those with no point. Pure. */
export function withProtected(
  rows: readonly Row[],
  recorded: readonly ProtectedRunbook[],
  now: number,
): Row[] {
  const out = rows.map((r) => ({ ...r }));
  for (const p of recorded) {
    for (const [vm, since] of Object.entries(p.vms)) {
      const row = out.find((r) => r.vm === vm && (r.runbook === p.runbook || r.newestPointId === undefined));
      if (row && row.ageSeconds !== undefined) {
        row.objectiveMs = p.objectiveMs;
        continue;
      }
      const base = row ?? { runbook: p.runbook, vm, failedPoints: 0, points: 0 };
      const noPoint: Row = {
        ...base,
        runbook: p.runbook,
        ageSeconds: Math.max(0, (now - Date.parse(since)) / 1000),
        objectiveMs: p.objectiveMs,
      };
      if (row) out[out.indexOf(row)] = noPoint;
      else out.push(noPoint);
    }
  }
  return out;
}

/** The RPO of a runbook's VMs here and which of them are over the objective (no point past it counts). */
export async function runbookRpoState(
  store: ReplicaStore,
  input: { runbook: string; vms: readonly string[]; objectiveMs: number },
  now: number,
): Promise<RunbookRpoState> {
  const rows = await storeRpo(store, now, input.vms);
  const vms = input.vms.map((vm) => {
    const r = rows.find((x) => x.vm === vm && x.runbook === input.runbook);
    const ageSeconds = r?.ageSeconds;
    const { breach } = judgeRpo({ ageSeconds }, r?.objectiveMs ?? input.objectiveMs);
    return {
      vm,
      breach,
      ...(ageSeconds !== undefined ? { ageSeconds: Math.round(ageSeconds * 10) / 10 } : {}),
    };
  });
  return { breach: vms.filter((v) => v.breach).map((v) => v.vm), vms };
}

export interface RunbookRpoState {
  /** The VMs over the objective. */
  breach: string[];
  vms: Array<{ vm: string; breach: boolean; ageSeconds?: number }>;
}

export function registerRpoMetrics(registry: Registry, store: ReplicaStore, now = () => Date.now()): void {
  // The gauges are filled from one scan of the store per scrape (each collects in turn).
  let last: { at: number; rows: Promise<Row[]> } | undefined;
  const scan = () => {
    const t = Date.now();
    if (!last || t - last.at > 1_000) last = { at: t, rows: storeRpo(store, now()) };
    return last.rows;
  };
  // One gauge per figure, each labelled by runbook and VM; a row without the figure is left out.
  const perVm = (name: string, help: string, value: (r: Row) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['runbook', 'vm'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const r of await scan()) {
          const v = value(r);
          if (v !== undefined) this.set({ runbook: r.runbook, vm: r.vm }, v);
        }
      },
    });
  perVm(
    'lifeboat_rpo_seconds',
    'Age of the newest committed, not-failed recovery point of the VM (the RPO now); with no point yet, time since its protection started',
    (r) => r.ageSeconds,
  );
  perVm(
    'lifeboat_points_failed',
    'Committed points of the VM whose whole-chain verification failed',
    (r) => r.failedPoints,
  );
  perVm(
    'lifeboat_rpo_breach',
    '1 while the VM’s RPO is over its runbook’s objective (or it has no point past it), 0 when within',
    (r) => (r.objectiveMs === undefined ? undefined : judgeRpo(r, r.objectiveMs).breach ? 1 : 0),
  );
  perVm(
    'lifeboat_rpo_breach_seconds',
    'How long the VM’s current RPO breach has lasted (0 when within the objective)',
    (r) => (r.objectiveMs === undefined ? undefined : judgeRpo(r, r.objectiveMs).secondsInBreach),
  );
}
