/**
 * Failover on the embedded lab (`npx tsx bench/failover.ts [--quick]`), the lab runbook's 4 VMs in
 * 3 waves, run as a runbook of its own (`lab-failover-bench`: the same VMs and sites, no gate and
 * no operators, so nothing waits on a person):
 *  - Planned downtime: a planned failover with nothing killed; first primary VM stopped to the
 *    last secondary group healthy (the evidence's `downtimeMs`), then rolled back.
 *  - Kill points: for each wave, before and after each VM's start at the secondary, a planned
 *    failover whose orchestrator worker is SIGKILLed there (by pid) and started again. Each must
 *    reach its commit exactly once: every VM running once at the secondary (its libvirt domain id
 *    unchanged since first seen, one boot line in its serial log, its guest's boot counter one
 *    past the primary's before the failover), the final cycle's point the one new point per VM,
 *    and no earlier point gone. Each is rolled back (the primary's VMs start again).
 *  - Server restarts: the same, but the Temporal server is stopped (with its embedded workers)
 *    and started again on the same database file, before the second wave's first VM starts
 *    (and, in a full run, before the first wave's).
 *  - Disaster RTO against its floor, in the same run: seconds from `lifeboat failover --disaster`
 *    to the first VM running at the secondary; the floor is a plain script on the same point
 *    (overlay, transient domain of the first wave's VM, running). Then rolled back.
 * `--quick` keeps 2 kill points (before the first wave's VM, after the last wave's) and one server
 * restart. Uses the
 * embedded lab (brought up and down again when it was down), its VMs left at the primary.
 * Writes bench/results/failover.json (failover-quick.json with --quick).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { createLibvirtDriver } from '../drivers/libvirt/index.ts';
import { hostPathOf, hostUri, SITE_STORAGE_PATH } from '../lab/config.ts';
import { DEFAULT_LAB_RUNBOOK } from '../lab/runbook.ts';
import { readState } from '../lab/state.ts';
import { connectClient, resolveTemporalTarget } from '../platform/connection.ts';
import { devServerStatus } from '../platform/dev-server.ts';
import { embeddedWorkersStatus, ensureEmbeddedWorkers } from '../platform/embedded-workers.ts';
import { lifeboatHome, REPO_ROOT } from '../platform/home.ts';
import { ReplicaStore } from '../replication/store.ts';
import { type Evidence, parseEvidence } from '../reports/evidence.ts';
import { loadRunbook } from '../runbooks/index.ts';
import { progressQuery } from '../workflows/messages.ts';
import type { OperationProgress, OperationResult } from '../workflows/types.ts';
import { floorDomain, INNER_STORE } from './floor-domain.ts';

const pexec = promisify(execFile);
const CLI = path.join(REPO_ROOT, 'bin', 'lifeboat.mjs');
const quick = process.argv.includes('--quick');
const NAME = 'lab-failover-bench';
const load = () => Number(loadavg()[0]?.toFixed(2));

async function lifeboat(...args: string[]): Promise<string> {
  const { stdout } = await pexec(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    maxBuffer: 64 << 20,
    timeout: 1_800_000,
  });
  return stdout;
}

/** The lab runbook as a runbook of its own, without its gate and operators. */
function writeRunbook(): string {
  const doc = parse(readFileSync(DEFAULT_LAB_RUNBOOK, 'utf8')) as Record<string, unknown> & {
    metadata: { name: string };
    groups: { before?: unknown }[];
  };
  doc.metadata.name = NAME;
  delete doc.operators;
  delete doc.roles;
  for (const g of doc.groups) delete g.before;
  const file = path.join(tmpdir(), `${NAME}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

const file = writeRunbook();
const loaded = await loadRunbook(file);
if (!loaded.plan) throw new Error(`${file} does not compile`);
const plan = loaded.plan;
const waves = plan.waves.map((w) => w.flatMap((g) => plan.groups.find((x) => x.name === g)?.vms ?? []));
const allVms = waves.flat().map((v) => v.name);

const driverAt = (site: 'primary' | 'secondary') =>
  createLibvirtDriver({
    site,
    uri: hostUri(site),
    storage: hostPathOf(site, SITE_STORAGE_PATH),
    hostPath: (p) => hostPathOf(site, p),
  });
const primary = driverAt('primary');
const secondary = driverAt('secondary');

const store = new ReplicaStore(hostPathOf('secondary', INNER_STORE));

async function virshSecondary(args: string[]): Promise<string> {
  const { stdout } = await pexec('virsh', ['-q', '-c', hostUri('secondary'), ...args], { timeout: 60_000 });
  return stdout.trim();
}

/** The guest's boot counter, as its health script reports it at the primary. */
async function primaryBoots(vm: string): Promise<number> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const r = await primary.agentExec(vm, ['/health.sh'], { timeoutMs: 10_000 }).catch(() => undefined);
    const m = r?.stdout.match(/boots=(\d+)/);
    if (m) return Number(m[1]);
    if (Date.now() > deadline) throw new Error(`${vm} does not answer its health check at the primary`);
    await sleep(1_000);
  }
}

/** Each VM's domain id at the secondary while it runs, and when it was first seen running. */
class Watcher {
  readonly firstSeen = new Map<string, { id: string; at: number }>();
  readonly ids = new Map<string, Set<string>>();
  private stopped = false;
  private loop: Promise<void> | undefined;

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const out = await virshSecondary(['list']).catch(() => '');
        for (const line of out.split('\n')) {
          const [id, name, state] = line.trim().split(/\s+/);
          if (!id || !name || state !== 'running' || !allVms.includes(name)) continue;
          if (!this.firstSeen.has(name)) this.firstSeen.set(name, { id, at: Date.now() });
          this.ids.set(name, (this.ids.get(name) ?? new Set()).add(id));
        }
        await sleep(150);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

async function progress(id: string): Promise<OperationProgress | undefined> {
  return client.workflow
    .getHandle(id)
    .query(progressQuery)
    .catch(() => undefined);
}

async function waitCommit(id: string, timeoutMs = 1_200_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await progress(id);
    if (p?.state === 'waiting-commit') return;
    if (p && ['failed', 'rolled-back', 'cancelled', 'succeeded'].includes(p.state))
      throw new Error(`${id} ended ${p.state} before its commit: ${p.error}`);
    if (Date.now() > deadline) throw new Error(`${id} did not reach its commit in time (${p?.state})`);
    await sleep(1_000);
  }
}

function orchestratorPid(): number {
  const w = embeddedWorkersStatus(lifeboatHome()).find((x) => x.name === 'orchestrator');
  if (w?.pid === undefined) throw new Error('the embedded orchestrator worker is not running');
  return w.pid;
}

async function startFailover(mode: 'planned' | 'disaster'): Promise<string> {
  const flags = mode === 'planned' ? ['--planned'] : ['--disaster', '--yes', '--yes'];
  const out = await lifeboat('failover', file, ...flags, '--json');
  const op = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { id?: string };
  if (!op.id) throw new Error(`failover not started: ${out}`);
  return op.id;
}

async function rollback(id: string): Promise<Evidence> {
  await lifeboat('rollback-failover', NAME, '--reason', 'failover bench');
  const r = await client.workflow
    .getHandle(id)
    .result()
    .then(
      (x: OperationResult) => x,
      (err: { cause?: { details?: unknown[] } }) => err.cause?.details?.[0] as OperationResult,
    );
  if (r?.outcome !== 'rolled-back' || !r.evidencePath)
    throw new Error(`${id}: not rolled back: ${r?.outcome} ${r?.error}`);
  // The primary's VMs again answering before the next run reads their boot counters.
  for (const vm of allVms) await primaryBoots(vm);
  return parseEvidence(JSON.parse(readFileSync(r.evidencePath, 'utf8')), r.evidencePath);
}

async function points(): Promise<Map<string, Set<string>>> {
  const m = new Map<string, Set<string>>();
  for (const vm of allVms) m.set(vm, new Set((await store.listPoints(vm)).map((p) => p.pointId)));
  return m;
}

function readyLines(id: string, vm: string): number[] {
  const n = id.split('/').at(-1);
  const inner = path.posix.join(SITE_STORAGE_PATH, 'restores', `failover-${NAME}-${n}`, vm, 'serial.log');
  let text = '';
  try {
    text = readFileSync(hostPathOf('secondary', inner), 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/LIFEBOAT-READY vm=\S+ .*?boots=(\d+)/g)].map((x) => Number(x[1]));
}

/**
 * Where the failover is interrupted: the orchestrator worker SIGKILLed, or (`server`) the Temporal
 * server stopped with its workers and started again on the same database.
 */
type KillPoint = {
  wave: number;
  vm: string;
  when: 'before-start' | 'after-start';
  target?: 'orchestrator' | 'server';
};

/** One planned failover, the orchestrator killed at `kill` (or not), checked for exactly once. */
async function plannedRun(kill?: KillPoint) {
  const boots = Object.fromEntries(await Promise.all(allVms.map(async (vm) => [vm, await primaryBoots(vm)])));
  const before = await points();
  const watcher = new Watcher();
  watcher.start();
  const t0 = Date.now();
  const id = await startFailover('planned');
  let killed: { at: number; pid: number; observed: string; restartMs: number } | undefined;
  try {
    if (kill) {
      const group = plan.groups.find((g) => g.vms.some((v) => v.name === kill.vm))?.name as string;
      for (;;) {
        const running = watcher.firstSeen.has(kill.vm);
        if (kill.when === 'after-start' && running) break;
        if (kill.when === 'before-start') {
          if (running) throw new Error(`${kill.vm} started before the kill point was seen`);
          const g = Object.values((await progress(id))?.groups ?? {}).find((x) => x.name === group);
          if (g?.step === 'vms') break;
        }
        if (Date.now() - t0 > 1_200_000) throw new Error(`kill point ${JSON.stringify(kill)} never reached`);
        await sleep(kill.when === 'after-start' ? 50 : 200);
      }
      const observed = allVms.filter((v) => watcher.firstSeen.has(v)).join(',') || '(none running)';
      if (kill.target === 'server') {
        const pid = (await devServerStatus(lifeboatHome())).pid ?? 0;
        const at = Date.now();
        // Stopped by pid with its embedded workers, started again on the same database file.
        await lifeboat('server', 'stop');
        await lifeboat('server', 'start');
        await ensureEmbeddedWorkers();
        killed = { at: at - t0, pid, observed, restartMs: Date.now() - at };
      } else {
        const pid = orchestratorPid();
        process.kill(pid, 'SIGKILL');
        const at = Date.now();
        while (embeddedWorkersStatus(lifeboatHome()).find((x) => x.name === 'orchestrator')?.pid === pid)
          await sleep(50);
        await ensureEmbeddedWorkers();
        killed = { at: at - t0, pid, observed, restartMs: Date.now() - at };
      }
    }
    await waitCommit(id);
  } finally {
    await watcher.stop();
  }
  const upMs = Date.now() - t0;
  const after = await points();
  const perVm = allVms.map((vm) => {
    const ready = readyLines(id, vm);
    const added = [...(after.get(vm) ?? [])].filter((p) => !before.get(vm)?.has(p));
    const lost = [...(before.get(vm) ?? [])].filter((p) => !after.get(vm)?.has(p));
    return {
      vm,
      domainIds: [...(watcher.ids.get(vm) ?? [])],
      readyLines: ready.length,
      bootsBefore: boots[vm] as number,
      bootsAtSecondary: ready.at(-1) ?? null,
      pointsAdded: added,
      pointsGone: lost,
    };
  });
  const evidence = await rollback(id);
  const finalPoint = evidence.pointSet?.pointId;
  const problems = perVm.flatMap((v) => [
    ...(v.domainIds.length === 1 ? [] : [`${v.vm}: domain ids ${v.domainIds.join(',') || 'none'}`]),
    ...(v.readyLines === 1 ? [] : [`${v.vm}: ${v.readyLines} boot lines`]),
    ...(v.bootsAtSecondary === v.bootsBefore + 1
      ? []
      : [`${v.vm}: boots ${v.bootsBefore} at the primary, ${v.bootsAtSecondary} at the secondary`]),
    ...(v.pointsAdded.length === 1 && v.pointsAdded[0] === finalPoint
      ? []
      : [`${v.vm}: points added ${v.pointsAdded.join(',')} (final ${finalPoint})`]),
    // Retention may drop the oldest point beyond its count; any other point gone is lost.
    ...(v.pointsGone.length <= 1 ? [] : [`${v.vm}: points gone ${v.pointsGone.join(',')}`]),
  ]);
  return {
    id,
    kill: kill ? { ...kill, ...killed } : null,
    exactlyOnce: problems.length === 0,
    problems,
    upMs,
    downtimeMs: evidence.failover?.downtimeMs ?? null,
    rtoMs: evidence.objectives.rto.measuredMs ?? null,
    finalPoint,
    perVm,
  };
}

/** The floor: a plain script starting the first wave's VM from the same point (no orchestration). */
async function floorFirstVm(pointId: string): Promise<number> {
  const vm = waves[0]?.[0]?.name as string;
  const innerDir = path.posix.join(SITE_STORAGE_PATH, 'restores', 'bench-failover-floor');
  rmSync(hostPathOf('secondary', innerDir), { recursive: true, force: true });
  const t0 = Date.now();
  const spec = await floorDomain(store, vm, pointId, innerDir);
  try {
    await secondary.createTransient(spec);
    return Date.now() - t0;
  } finally {
    await secondary.destroyVm(spec.name).catch(() => undefined);
    rmSync(hostPathOf('secondary', innerDir), { recursive: true, force: true });
  }
}

async function disasterRun() {
  const watcher = new Watcher();
  watcher.start();
  const t0 = Date.now();
  let id: string;
  let started = t0;
  try {
    id = await startFailover('disaster');
    started = Date.now();
    await waitCommit(id);
  } finally {
    await watcher.stop();
  }
  const first = Math.min(...[...watcher.firstSeen.values()].map((s) => s.at));
  const evidence = await rollback(id);
  const preflight = evidence.timeline.find((e) => e.kind === 'preflight');
  const pointId = evidence.pointSet?.pointId as string;
  const floorMs = await floorFirstVm(pointId);
  const rtoMs = first - t0;
  return {
    id,
    secondsToFirstVmStarted: rtoMs / 1000,
    // The command's own part: start-up, both sites' inventories (the guard), the controller's Update.
    secondsToOperationStarted: (started - t0) / 1000,
    preflightSeconds: preflight
      ? (Date.parse(preflight.endedAt ?? preflight.startedAt) - Date.parse(preflight.startedAt)) / 1000
      : null,
    floorSecondsToFirstVmStarted: floorMs / 1000,
    ratio: Number((rtoMs / floorMs).toFixed(2)),
    upMs: evidence.objectives.rto.measuredMs ?? null,
    pointId,
    rpoMs: evidence.objectives.rpo.measuredMs ?? null,
  };
}

// What this run found up stays up; what it brought up it takes down (one lab per machine).
const labWasUp = readState() !== undefined;
const serverWasUp = (await devServerStatus(lifeboatHome())).healthy;
await lifeboat('server', 'start');
await lifeboat('lab', 'up');
await ensureEmbeddedWorkers();
const { client, connection } = await connectClient(await resolveTemporalTarget());
try {
  await lifeboat('replicate', '--wait', file);
  const loadBefore = load();
  const wall0 = Date.now();

  const clean = await plannedRun();
  process.stdout.write(`planned, nothing killed: downtime ${clean.downtimeMs} ms, ${clean.exactlyOnce}\n`);
  const killPoints: KillPoint[] = waves.flatMap((vms, wave) =>
    vms.flatMap((v) => [
      { wave, vm: v.name, when: 'before-start' as const },
      { wave, vm: v.name, when: 'after-start' as const },
    ]),
  );
  // The server restarted with its database kept: mid-wave (after the first wave's VM started,
  // before the next wave's), and (full run) before the first VM's start.
  const serverPoints: KillPoint[] = [
    ...(quick ? [] : [killPoints[0]]),
    killPoints.find((k) => k.wave === 1 && k.when === 'before-start'),
  ]
    .filter((k): k is KillPoint => !!k)
    .map((k) => ({ ...k, target: 'server' as const }));
  const chosen = [
    ...(quick ? [killPoints[0], killPoints.at(-1)].filter((k): k is KillPoint => !!k) : killPoints),
    ...serverPoints,
  ];
  const killed = [];
  for (const k of chosen) {
    const r = await plannedRun(k);
    process.stdout.write(
      `${k.target === 'server' ? 'server restarted' : 'killed'} ${k.when} ${k.vm} (wave ${k.wave}): exactly once ${r.exactlyOnce} ${r.problems.join('; ')}\n`,
    );
    killed.push(r);
  }
  const disaster = await disasterRun();
  process.stdout.write(
    `disaster: first VM running after ${disaster.secondsToFirstVmStarted} s, floor ${disaster.floorSecondsToFirstVmStarted} s\n`,
  );

  const results = {
    when: new Date().toISOString(),
    runbook: `runbooks/examples/lab.yaml as ${NAME} (4 VMs, 3 waves, TCG; no gate, no operators)`,
    quick,
    load1Before: loadBefore,
    wallSeconds: Math.round((Date.now() - wall0) / 1000),
    planned: {
      downtimeSeconds: (clean.downtimeMs ?? Number.NaN) / 1000,
      upSeconds: clean.upMs / 1000,
      exactlyOnce: clean.exactlyOnce,
      note: 'downtime: first primary VM stopped to the last secondary group healthy (evidence downtimeMs)',
    },
    killPoints: {
      total: killPoints.length + serverPoints.length,
      run: killed.length,
      serverRestarts: serverPoints.length,
      allExactlyOnce: killed.every((k) => k.exactlyOnce),
      runs: killed,
    },
    disaster,
    cleanRun: clean,
  };
  const out = path.join(REPO_ROOT, 'bench', 'results', quick ? 'failover-quick.json' : 'failover.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(
    `${JSON.stringify({ ...results, killPoints: { ...results.killPoints, runs: undefined }, cleanRun: undefined }, null, 2)}\n`,
  );
  if (!results.killPoints.allExactlyOnce || !clean.exactlyOnce) process.exitCode = 1;
} finally {
  await connection.close();
  if (!labWasUp) await lifeboat('lab', 'down');
  if (!serverWasUp) await lifeboat('server', 'stop');
}
