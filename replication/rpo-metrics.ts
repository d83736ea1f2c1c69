/**
 * The replica store's RPO figures on the site worker's `/metrics`, computed at scrape time from
 * the manifests (a site that is the secondary has points; a primary exports nothing here):
 * `lifeboat_rpo_seconds{runbook,vm}` and `lifeboat_points_failed{runbook,vm}`. The objective
 * comes from the orchestrator (`lifeboat_rpo_objective_seconds{runbook}`); the alert rules join them.
 */
import { readdir } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import { vmRpo } from './rpo.ts';
import type { ReplicaStore } from './store.ts';

async function storeRpo(store: ReplicaStore, now: number) {
  let vms: string[];
  try {
    vms = (await readdir(store.root, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name);
  } catch {
    return [];
  }
  const out = [];
  for (const vm of vms) {
    try {
      const { points } = await store.scanPoints(vm);
      if (points.length > 0) out.push(vmRpo(vm, points, now));
    } catch {
      // A VM directory that cannot be read is left out of this scrape, not a failed scrape.
    }
  }
  return out;
}

export function registerRpoMetrics(registry: Registry, store: ReplicaStore, now = () => Date.now()): void {
  // Both gauges are filled from one scan of the store per scrape (each collects in turn).
  let last: { at: number; rows: Promise<Awaited<ReturnType<typeof storeRpo>>> } | undefined;
  const scan = () => {
    const t = Date.now();
    if (!last || t - last.at > 1_000) last = { at: t, rows: storeRpo(store, now()) };
    return last.rows;
  };
  new Gauge({
    name: 'lifeboat_rpo_seconds',
    help: 'Age of the newest committed, not-failed recovery point of the VM (the RPO now)',
    labelNames: ['runbook', 'vm'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await scan()) {
        if (r.ageSeconds !== undefined) this.set({ runbook: r.runbook, vm: r.vm }, r.ageSeconds);
      }
    },
  });
  new Gauge({
    name: 'lifeboat_points_failed',
    help: 'Committed points of the VM whose whole-chain verification failed',
    labelNames: ['runbook', 'vm'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await scan()) this.set({ runbook: r.runbook, vm: r.vm }, r.failedPoints);
    },
  });
}
