/**
 * The real two-site lab for replication-cycle tests: a relay from the management bridge to the
 * run's Temporal server, a replication-serving worker inside each site (transfer server on the
 * inter-site address, TLS from the lab's CA), an in-process orchestrator worker, a test VM with
 * two data disks and its workload on the primary, and a one-VM runbook for it.
 */

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createOrchestratorActivities } from '../../../activities/index.ts';
import { requestReplication } from '../../../cli/commands/replicate.ts';
import { hostPathOf, MGMT_HOST_ADDRESS, SITE_STORAGE_PATH, SITE_TOPOLOGY } from '../../../lab/config.ts';
import { spawnInSite, stopInSite } from '../../../lab/exec.ts';
import { labStopWorkers } from '../../../lab/lab.ts';
import { relayArgs } from '../../../lab/relay.ts';
import { ensureLabReplicationTls, labReplicationEnv } from '../../../lab/replication-tls.ts';
import { readState } from '../../../lab/state.ts';
import { siteWorkerArgv } from '../../../lab/workers.ts';
import { REPO_ROOT } from '../../../platform/home.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../../../platform/names.ts';
import { ReplicaStore } from '../../../replication/store.ts';
import { loadRunbook } from '../../../runbooks/index.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import type { ReplicationCycleResult } from '../../../workflows/replication.ts';
import { saveHistory } from '../../support/histories.ts';
import { ensureFreshLab } from '../../support/lab.ts';
import { connectTestClient, testServer, workflowBundle } from '../../support/temporal.ts';
import { bootTestVm, destroyTestVm, type TestVm, testVm, virshPrimary } from './lab-vm.ts';

const pexec = promisify(execFile);
export const WORKER_KEY = 'replication-test-worker';
/** Each site worker's /metrics port, on 127.0.0.1 inside its site's network namespace. */
export const METRICS_PORT = { primary: 9465, secondary: 9466 } as const;
// nsenter starts the worker in / of the site: name the loader by URL, not by package.

export interface CycleLab {
  client: Client;
  plan: Plan;
  runbookFile: string;
  vm: TestVm;
  store: ReplicaStore;
  /** The replica store's root as the host sees it. */
  storeRoot: string;
  startSiteWorker(site: 'primary' | 'secondary'): Promise<number>;
  /** Pids of the replication workers this harness started, by site. */
  workerPids: Record<'primary' | 'secondary', number>;
  /** One cycle of the test runbook, or of `plan` (another runbook of the same VM). */
  cycle(plan?: Plan): Promise<{ id: string; result: Promise<ReplicationCycleResult> }>;
  /** The Plan of another runbook protecting the same VM, with other replication settings. */
  variant(
    runbook: string,
    replication: { consistency: 'crash' | 'application'; groupExtra?: string; keepAtMost?: string },
  ): Promise<Plan>;
  /** Where this harness's orchestrator keeps evidence (its LIFEBOAT_HOME). */
  home: string;
  close(): Promise<void>;
}

function runbookYaml(
  name: string,
  vm: string,
  consistency: 'crash' | 'application' = 'crash',
  groupExtra = '',
  keepAtMost?: string,
): string {
  return `apiVersion: lifeboat/v1
kind: Runbook
metadata:
  name: ${name}
  owner: sre-lab
objectives:
  rpo: 2m
  rto: 15m
sites:
  primary:
    name: primary
    driver: libvirt
    uri: "qemu:///system"
    storage: ${SITE_STORAGE_PATH}
    networks:
      production: production
  secondary:
    name: secondary
    driver: libvirt
    uri: "qemu:///system"
    storage: ${SITE_STORAGE_PATH}
    networks:
      production: production
      bubble: bubble
replication:
  every: 30s
  consistency: ${consistency}
  retention:
    points: 6
groups:
  - name: database
    vms: [${vm}]
${groupExtra}drill:
  network: bubble
${keepAtMost ? `  keepAtMost: ${keepAtMost}\n` : ''}`;
}

export async function startCycleLab(opts: {
  vmName: string;
  runbook: string;
  /** YAML lines added to the runbook's one group (checks, onFailure), indented by four. */
  groupExtra?: string;
  /** Run the orchestrator worker in this process (default); false: the test runs its own. */
  orchestrator?: boolean;
  /** Boot the VM from this guest build instead of the lab's (see bootTestVm). */
  guestDir?: string;
}): Promise<CycleLab> {
  if (!readState()?.ready) await ensureFreshLab({ runbook: 'lab-mini.yaml' });
  // The lab's own site workers (a `lab up` before this file started them) would hold the
  // replication port, and this file's workers would exit at once: they stop for the file.
  else if (readState()?.workers) await labStopWorkers();
  await ensureLabReplicationTls();
  const { address, namespace } = testServer();
  const port = Number(address.split(':').at(-1));
  // The site workers reach this run's Temporal through a relay on the management bridge.
  const relay = spawn('socat', relayArgs(port), { stdio: 'ignore' });
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-rcy-'));
  const runbookFile = path.join(dir, `${opts.runbook}.yaml`);
  writeFileSync(runbookFile, runbookYaml(opts.runbook, opts.vmName, 'crash', opts.groupExtra));
  const loaded = await loadRunbook(runbookFile);
  if (!loaded.plan) throw new Error(`test runbook does not compile: ${JSON.stringify(loaded.findings)}`);
  const plan = loaded.plan;

  const vm = testVm(opts.vmName);
  const storeRoot = hostPathOf('secondary', path.posix.join(SITE_STORAGE_PATH, 'replicas'));
  rmSync(path.join(storeRoot, vm.name), { recursive: true, force: true });
  rmSync(hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'replication', 'export', vm.name)), {
    recursive: true,
    force: true,
  });
  await bootTestVm(vm, opts.guestDir === undefined ? {} : { guestDir: opts.guestDir });

  const startSiteWorker = async (site: 'primary' | 'secondary'): Promise<number> => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...labReplicationEnv(site),
      TEMPORAL_ADDRESS: `${MGMT_HOST_ADDRESS}:${port}`,
      TEMPORAL_NAMESPACE: namespace,
      LIFEBOAT_SITE: site,
      LIBVIRT_DEFAULT_URI: 'qemu:///system',
      LIFEBOAT_METRICS_PORT: String(METRICS_PORT[site]),
    };
    const p = await spawnInSite(site, siteWorkerArgv(site), {
      key: WORKER_KEY,
      env,
      cwd: REPO_ROOT,
    });
    workerPids[site] = p.pid;
    return p.pid;
  };
  const workerPids = { primary: 0, secondary: 0 };
  let cycles = 0;
  await startSiteWorker('primary');
  await startSiteWorker('secondary');

  const { client, connection } = await connectTestClient();
  const native = await NativeConnection.connect({ address });
  const worker =
    opts.orchestrator === false
      ? undefined
      : await Worker.create({
          connection: native,
          namespace,
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowBundle: await workflowBundle(path.join(REPO_ROOT, 'workflows', 'index.ts')),
          activities: createOrchestratorActivities({ home: dir }),
        });
  const running = worker?.run();

  return {
    client,
    plan,
    runbookFile,
    vm,
    store: new ReplicaStore(storeRoot),
    storeRoot,
    home: dir,
    startSiteWorker,
    workerPids,
    async variant(runbook, replication) {
      const file = path.join(dir, `${runbook}.yaml`);
      writeFileSync(
        file,
        runbookYaml(
          runbook,
          opts.vmName,
          replication.consistency,
          replication.groupExtra,
          replication.keepAtMost,
        ),
      );
      const variant = await loadRunbook(file);
      if (!variant.plan) throw new Error(`variant does not compile: ${JSON.stringify(variant.findings)}`);
      return variant.plan;
    },
    async cycle(of = plan) {
      const a = await requestReplication(client, of);
      if (!a.admitted) throw new Error(`cycle refused: ${a.message}`);
      const n = ++cycles;
      const result = (client.workflow.getHandle(a.id).result() as Promise<ReplicationCycleResult>).then(
        async (r) => {
          // The first cycles (a full, then incrementals) feed the replay harness.
          if (n <= 2) {
            await saveHistory(client, a.id, 'replicationCycleWorkflow', `cycle-${n}`);
            await saveHistory(client, `${a.id}/${vm.name}`, 'replicationVmWorkflow', `cycle-${n}`);
          }
          return r;
        },
      );
      return { id: a.id, result };
    },
    async close() {
      worker?.shutdown();
      await running?.catch(() => undefined);
      await native.close();
      await (connection as Connection).close();
      for (const site of ['primary', 'secondary'] as const)
        await stopInSite(site, WORKER_KEY).catch(() => false);
      relay.kill('SIGTERM');
      await destroyTestVm(vm);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The inter-site veth's byte counters of a site (`ip -s` inside its namespace). */
export async function interCounters(site: 'primary' | 'secondary'): Promise<{ rx: number; tx: number }> {
  const { stdout } = await pexec('ip', [
    '-n',
    SITE_TOPOLOGY[site].netns,
    '-s',
    '-j',
    'link',
    'show',
    SITE_TOPOLOGY[site].interIf,
  ]);
  const [link] = JSON.parse(stdout) as Array<{ stats64: { rx: { bytes: number }; tx: { bytes: number } } }>;
  return { rx: link!.stats64.rx.bytes, tx: link!.stats64.tx.bytes };
}

/** Waits until the primary lists a checkpoint not in `known`; returns its name. */
export async function waitNewCheckpoint(vm: TestVm, known: string[], timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const names = (await virshPrimary(['checkpoint-list', vm.name, '--name']))
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '' && !known.includes(s));
    if (names.length > 0) return names[0]!;
    await sleep(50);
  }
  throw new Error(`no new checkpoint of ${vm.name} within ${timeoutMs} ms`);
}

export async function checkpoints(vm: TestVm): Promise<string[]> {
  return (await virshPrimary(['checkpoint-list', vm.name, '--name']))
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Copies the primary's disks while the VM is paused: the reference a point must equal. */
export async function referenceCopy(vm: TestVm, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const [i, d] of vm.hostDisks.entries()) {
    const ref = path.join(dir, `${vm.targets[i]}.ref.qcow2`);
    rmSync(ref, { force: true });
    await pexec('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'qcow2', d, ref]);
    out.push(ref);
  }
  return out;
}

export async function compareImages(a: string, b: string): Promise<{ identical: boolean; detail: string }> {
  try {
    const { stdout } = await pexec('qemu-img', ['compare', '-U', a, b]);
    return { identical: true, detail: stdout.trim() };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { identical: false, detail: `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() };
  }
}

/** Slows the primary's side of the inter-site link (token bucket), so a transfer can be cut mid-way. */
export async function slowLink(rate: string | null): Promise<void> {
  const ns = SITE_TOPOLOGY.primary.netns;
  const dev = SITE_TOPOLOGY.primary.interIf;
  if (rate === null) {
    await pexec('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined);
    return;
  }
  await pexec('ip', [
    'netns',
    'exec',
    ns,
    'tc',
    'qdisc',
    'replace',
    'dev',
    dev,
    'root',
    'tbf',
    'rate',
    rate,
    'burst',
    '16kb',
    'latency',
    '100ms',
  ]);
}

/** Bytes staged so far for a point not yet committed (0 when no staging directory exists). */
export function stagedBytes(storeRoot: string, vm: string): number {
  const dir = path.join(storeRoot, vm, 'points');
  let total = 0;
  for (const d of existsSync(dir) ? readdirSync(dir) : []) {
    if (!d.startsWith('.staging-')) continue;
    for (const f of readdirSync(path.join(dir, d))) {
      if (f.endsWith('.qcow2')) total += statSync(path.join(dir, d, f)).size;
    }
  }
  return total;
}

export async function waitStaged(
  storeRoot: string,
  vm: string,
  atLeast: number,
  timeoutMs = 120_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = stagedBytes(storeRoot, vm);
    if (n >= atLeast) return n;
    await sleep(20);
  }
  throw new Error(`fewer than ${atLeast} bytes staged for ${vm} within ${timeoutMs} ms`);
}

/**
 * Waits until some file of the VM's export is part-way across: at least `arrived` bytes staged
 * at the secondary and at least `remaining` bytes still to come (sizes from the primary's export).
 */
export async function waitMidFile(
  storeRoot: string,
  vm: string,
  opts: { arrived: number; remaining: number; timeoutMs?: number },
): Promise<{ file: string; staged: number; size: number }> {
  const pointsDir = path.join(storeRoot, vm, 'points');
  const exportRoot = hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'replication', 'export', vm));
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  while (Date.now() < deadline) {
    for (const d of existsSync(pointsDir) ? readdirSync(pointsDir) : []) {
      if (!d.startsWith('.staging-')) continue;
      const pointId = d.slice('.staging-'.length);
      for (const f of readdirSync(path.join(pointsDir, d))) {
        if (!f.endsWith('.qcow2')) continue;
        const full = path.join(exportRoot, pointId, f);
        if (!existsSync(full)) continue;
        const staged = statSync(path.join(pointsDir, d, f)).size;
        const size = statSync(full).size;
        if (staged >= opts.arrived && size - staged >= opts.remaining) return { file: f, staged, size };
      }
    }
    await sleep(10);
  }
  throw new Error(`no file of ${vm} was part-way across within the timeout`);
}

/**
 * Waits until the cycle's backup has taken its point in time: a backup job runs on the domain,
 * or the export is already complete at the primary (its export.json written), or `settled`
 * resolves. libvirt lists the new checkpoint before the job's transaction runs, so the
 * checkpoint alone does not mark the point in time; the running job does.
 */
export async function waitBackupStarted(
  vm: string,
  settled: Promise<unknown>,
  timeoutMs = 120_000,
): Promise<void> {
  const root = hostPathOf('primary', path.posix.join(SITE_STORAGE_PATH, 'replication', 'export', vm));
  let done = false;
  void settled.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  const deadline = Date.now() + timeoutMs;
  while (!done && Date.now() < deadline) {
    for (const d of existsSync(root) ? readdirSync(root) : []) {
      if (existsSync(path.join(root, d, 'export.json'))) return;
    }
    const job = await virshPrimary(['domjobinfo', vm]).catch(() => '');
    if (/Operation:\s+Backup/.test(job) && !/Job type:\s+None/.test(job)) return;
    await sleep(10);
  }
}

/** The site worker's /metrics text, fetched inside the site's network namespace. */
export async function siteMetrics(site: 'primary' | 'secondary'): Promise<string> {
  const { stdout } = await pexec('ip', [
    'netns',
    'exec',
    SITE_TOPOLOGY[site].netns,
    'curl',
    '-sf',
    // A scrape the busy worker does not answer is given up and asked again, not waited on.
    '--max-time',
    '10',
    `http://127.0.0.1:${METRICS_PORT[site]}/metrics`,
  ]);
  return stdout;
}
