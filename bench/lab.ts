import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { ensureGuest } from '../lab/guest.ts';
import { labDown, labReset, labUp } from '../lab/lab.ts';
import { DEFAULT_LAB_RUNBOOK } from '../lab/runbook.ts';
import { REPO_ROOT } from '../platform/home.ts';

/**
 * Lab timings: cold `lab up` (guest not built), warm `lab up`, `lab reset`, and boot-to-ready
 * per VM when 1, 3 and 6 VMs boot together (TCG, 2 CPUs shared with whatever else runs: the
 * load average is recorded beside each figure). Leaves the lab up with lab.yaml.
 * Writes bench/results/lab.json.
 */
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, Math.round(performance.now() - t)];
}

const load = () => Number(loadavg()[0]!.toFixed(2));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function benchRunbook(dir: string, n: number): string {
  const vms = Array.from({ length: n }, (_, i) => `bench-${i + 1}`);
  const file = path.join(dir, `bench-${n}.yaml`);
  writeFileSync(
    file,
    `apiVersion: lifeboat/v1\nkind: Runbook\nmetadata: { name: bench-${n}, owner: bench }\ngroups:\n  - name: all\n    vms: [${vms.join(', ')}]\n`,
  );
  return file;
}

const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-bench-lab-'));
try {
  await labDown();
  const guest = await ensureGuest();
  rmSync(guest.dir, { recursive: true, force: true });
  const coldLoad = load();
  const [cold, coldUpMs] = await timed(() => labUp());
  if (!cold.guestBuilt) throw new Error('cold lab up did not build the guest');
  await labDown();
  const warmLoad = load();
  const [, warmUpMs] = await timed(() => labUp());

  const resets: number[] = [];
  for (let i = 0; i < 3; i++) resets.push((await timed(() => labReset()))[1]);
  const resetLoad = load();

  const bootToReady: Record<
    string,
    { vms: number; perVmMs: number[]; meanMs: number; maxMs: number; load1: number }
  > = {};
  for (const n of [1, 3, 6]) {
    const before = load();
    const r = await labUp({ runbook: benchRunbook(dir, n) });
    const per = r.vms.map((v) => v.readyMs);
    bootToReady[String(n)] = {
      vms: n,
      perVmMs: per,
      meanMs: Math.round(per.reduce((a, b) => a + b, 0) / per.length),
      maxMs: Math.max(...per),
      load1: before,
    };
  }
  await labUp({ runbook: DEFAULT_LAB_RUNBOOK });

  const figures = {
    measuredAt: new Date().toISOString(),
    accel: 'tcg',
    guestMemoryMiB: 128,
    coldUpMs,
    coldUpLoad1: coldLoad,
    warmUpMs,
    warmUpLoad1: warmLoad,
    resetMs: resets,
    resetMedianMs: median(resets),
    resetLoad1: resetLoad,
    bootToReady,
  };
  mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    path.join(REPO_ROOT, 'bench', 'results', 'lab.json'),
    `${JSON.stringify(figures, null, 2)}\n`,
  );
  console.log(JSON.stringify(figures, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
