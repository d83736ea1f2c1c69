/**
 * Drill RTO against its floor, measured in one run on the lab runbook (4 VMs, 3 waves):
 *  - Lifeboat: `lifeboat drill --wait` on a fresh point set; RTO and per-wave times from its
 *    evidence; seconds from the command to the first VM's build.
 *  - Floor: a plain script on the same point set, wave by wave: the same overlays (qemu-img),
 *    the same transient domains on the bubble (virsh create), waiting for the same serial, agent
 *    and TCP checks, VMs of a wave in parallel; no orchestration, preflight, probe or evidence.
 * Targets: Lifeboat's RTO <= 1.10x the floor; orchestration (Lifeboat's wave minus the floor's)
 * <= 1 s per wave. Uses the embedded lab as it finds it (starts it when down) and leaves it up.
 * Writes bench/results/drill.json.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLibvirtDriver } from '../drivers/libvirt/index.ts';
import { hostPathOf, hostUri, SITE_STORAGE_PATH } from '../lab/config.ts';
import { DEFAULT_LAB_RUNBOOK } from '../lab/runbook.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { ReplicaStore } from '../replication/store.ts';
import { parseEvidence } from '../reports/evidence.ts';
import { loadRunbook } from '../runbooks/index.ts';
import type { PlanCheck, PlanGroup } from '../runbooks/plan.ts';
import type { OperationResult } from '../workflows/types.ts';
import { floorDomain, INNER_STORE } from './floor-domain.ts';

const pexec = promisify(execFile);
const CLI = path.join(REPO_ROOT, 'bin', 'lifeboat.mjs');
const lifeboat = (...args: string[]) =>
  pexec(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
const load = () => Number(loadavg()[0]?.toFixed(2));

const loaded = await loadRunbook(DEFAULT_LAB_RUNBOOK);
if (!loaded.plan) throw new Error('lab.yaml does not compile');
const plan = loaded.plan;

await lifeboat('server', 'start');
await lifeboat('lab', 'up');
await lifeboat('replicate', '--wait', DEFAULT_LAB_RUNBOOK);

// Lifeboat, the way a user runs it.
const loadBefore = load();
const t0 = Date.now();
const out = await lifeboat('drill', '--wait', '--json', DEFAULT_LAB_RUNBOOK).catch(
  (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
);
const wallMs = Date.now() - t0;
const result = JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as OperationResult;
if (!result.evidencePath) throw new Error(`drill gave no evidence: ${out.stdout}`);
const evidence = parseEvidence(JSON.parse(readFileSync(result.evidencePath, 'utf8')), result.evidencePath);
const span = (e: { startedAt: string; endedAt?: string }) =>
  Date.parse(e.endedAt ?? e.startedAt) - Date.parse(e.startedAt);
const lifeboatWaves = evidence.timeline.filter((e) => e.kind === 'wave').map(span);
const preflight = evidence.timeline.find((e) => e.kind === 'preflight');
const firstVm = Math.min(
  ...evidence.timeline.filter((e) => e.kind === 'vm').map((e) => Date.parse(e.startedAt)),
);

// The floor, on the same point set.
const driver = createLibvirtDriver({
  site: 'secondary',
  uri: hostUri('secondary'),
  storage: SITE_STORAGE_PATH,
  hostPath: (p) => hostPathOf('secondary', p),
});

const store = new ReplicaStore(hostPathOf('secondary', INNER_STORE));
const pointId = evidence.pointSet?.pointId as string;
const innerDir = path.posix.join(SITE_STORAGE_PATH, 'restores', 'bench-floor');
const hostDir = hostPathOf('secondary', innerDir);

async function floorVm(vm: string, checks: PlanCheck[]): Promise<void> {
  const spec = await floorDomain(store, vm, pointId, innerDir);
  await driver.createTransient(spec);
  for (const c of checks) await floorCheck(spec.name, c);
}

async function floorCheck(domain: string, c: PlanCheck): Promise<void> {
  const deadline = Date.now() + c.withinMs;
  for (;;) {
    try {
      if (c.kind === 'serial') {
        await driver.waitSerial(domain, c.pattern, { timeoutMs: Math.max(1, deadline - Date.now()) });
        return;
      }
      if (c.kind === 'agent') {
        const r = await driver.agentExec(domain, c.command, { timeoutMs: 10_000 });
        if (r.exitCode === 0 && r.stdout.includes(c.expect)) return;
      }
      if (c.kind === 'tcp' || c.kind === 'http') {
        const addr = (await driver.vmAddresses(domain)).find((a) => a.family === 'ipv4')?.address;
        if (addr) {
          const r = await driver.agentExec(domain, ['nc', '-w', '3', addr, String(c.port)], {
            timeoutMs: 10_000,
          });
          if (r.exitCode === 0) return;
        }
      }
      if (c.kind === 'data') return; // the floor does not read data back
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`floor: ${c.id} on ${domain} did not pass`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

rmSync(hostDir, { recursive: true, force: true });
const byName = new Map(plan.groups.map((g) => [g.name, g]));
const floorWaves: number[] = [];
const f0 = Date.now();
let floorMs = 0;
try {
  for (const wave of plan.waves) {
    const w0 = Date.now();
    await Promise.all(
      wave.flatMap((name) => {
        const g = byName.get(name) as PlanGroup;
        return g.vms.map((v) => floorVm(v.name, g.checks));
      }),
    );
    floorWaves.push(Date.now() - w0);
  }
  // Like Lifeboat's RTO: until the last check passed, before anything is torn down.
  floorMs = Date.now() - f0;
} finally {
  for (const g of plan.groups)
    for (const v of g.vms) await driver.destroyVm(`lb-floor-${v.name}`).catch(() => undefined);
  rmSync(hostDir, { recursive: true, force: true });
}
const rtoMs = evidence.objectives.rto.measuredMs ?? Number.NaN;
const perWave = lifeboatWaves.map((ms, i) => ({
  lifeboatMs: ms,
  floorMs: floorWaves[i] ?? null,
  orchestrationMs: ms - (floorWaves[i] ?? 0),
}));
const results = {
  when: new Date().toISOString(),
  runbook: 'runbooks/examples/lab.yaml (4 VMs, 3 waves, TCG)',
  load1Before: loadBefore,
  lifeboat: {
    verdict: result.verdict,
    rtoMs,
    commandWallMs: wallMs,
    preflightMs: preflight ? span(preflight) : null,
    secondsToFirstVmBuild: (firstVm - t0) / 1000,
    waves: lifeboatWaves,
  },
  floor: {
    rtoMs: floorMs,
    waves: floorWaves,
    note: 'no data read-back, no isolation probe, no replica digests',
  },
  perWave,
  targets: {
    rtoVsFloor: { ratio: Number((rtoMs / floorMs).toFixed(3)), target: 1.1, met: rtoMs / floorMs <= 1.1 },
    orchestrationPerWave: {
      maxMs: Math.max(...perWave.map((w) => w.orchestrationMs)),
      targetMs: 1000,
      met: perWave.every((w) => w.orchestrationMs <= 1000),
    },
  },
};
mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  path.join(REPO_ROOT, 'bench', 'results', 'drill.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
