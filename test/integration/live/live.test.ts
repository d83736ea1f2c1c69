/**
 * `lifeboat validate|plan --live` against the real two-site lab, through the real path: the CLI
 * starts `siteInventoryWorkflow` on the orchestrator queue (an in-process orchestrator worker on
 * the run's Temporal server), each lab site's own worker (`lifeboat worker site <name>`, started
 * inside the site) reads its libvirt, and the findings come back at file:line:col. Covers a
 * clean lab, a missing VM, a missing network, a full storage volume (a 16 MiB loop-mounted ext4
 * inside the secondary site) and a site whose worker is stopped.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client, Connection } from '@temporalio/client';
import protos from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchInventories } from '../../../cli/live.ts';
import { hostPathOf, type LabSiteName, SITE_STORAGE_PATH } from '../../../lab/config.ts';
import { siteCommand } from '../../../lab/exec.ts';
import { readState } from '../../../lab/state.ts';
import { startSiteWorker, stopSiteWorker } from '../../../lab/workers.ts';
import { ORCHESTRATOR_TASK_QUEUE, siteTaskQueue } from '../../../platform/names.ts';
import { compileRunbookText } from '../../../runbooks/index.ts';
import { WORKFLOWS_PATH } from '../../../worker/workflows-path.ts';
import { runCli } from '../../support/cli.ts';
import { saveHistory } from '../../support/histories.ts';
import { ensureFreshLab } from '../../support/lab.ts';
import { connectTestClient, testServer, workflowBundle } from '../../support/temporal.ts';

const exec = promisify(execFile);
const LAB = 'runbooks/examples/lab.yaml';
const LAB_TEXT = readFileSync(LAB, 'utf8');
const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-live-'));
// The full volume lives inside the secondary site (its storage is mounted at the same path there).
const FULL_DIR = `${SITE_STORAGE_PATH}/live-full-${process.pid}`;
const FULL_IMG = `${SITE_STORAGE_PATH}/live-full-${process.pid}.img`;

let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let mounted = false;

const inSite = (site: LabSiteName, argv: string[]) => {
  const [f, ...a] = siteCommand(site, argv);
  return exec(f!, a);
};

/** Until the site's worker (the pid the lab started) polls its activity queue. */
async function waitForSiteWorker(site: LabSiteName): Promise<void> {
  const pid = readState()?.sites[site].processes.worker?.pid;
  if (pid === undefined) throw new Error(`the lab started no worker in site ${site}`);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const res = await client.workflowService.describeTaskQueue({
      namespace: testServer().namespace,
      taskQueue: { name: siteTaskQueue(site) },
      taskQueueType: protos.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    if ((res.pollers ?? []).some((p) => (p.identity ?? '').startsWith(`${pid}@`))) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the worker of site ${site} (pid ${pid}) never polled`);
}

/** A variant of the lab runbook, written to a file the CLI reads. */
function variant(name: string, edit: (text: string) => string): { file: string; text: string } {
  const text = edit(LAB_TEXT);
  expect(text).not.toBe(LAB_TEXT);
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return { file, text };
}

/** `line:col` (1-based) of the `nth` occurrence of `needle` in `text`, found by plain search. */
function positionOf(text: string, needle: string, nth = 0): string {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`${needle} not in the runbook`);
  }
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

const live = (args: string[]) => runCli([...args], process.env, 240_000);

beforeAll(async () => {
  await ensureFreshLab({ workers: true });
  ({ client, connection } = await connectTestClient());
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Another module of this fork installed it already.
  }
  nativeConnection = await NativeConnection.connect({ address: testServer().address });
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: testServer().namespace,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    workflowBundle: await workflowBundle(WORKFLOWS_PATH),
  });
  running = worker.run();
  await Promise.all([waitForSiteWorker('primary'), waitForSiteWorker('secondary')]);
}, 900_000);

afterAll(async () => {
  if (mounted) await inSite('secondary', ['umount', FULL_DIR]).catch(() => undefined);
  rmSync(hostPathOf('secondary', FULL_DIR), { recursive: true, force: true });
  rmSync(hostPathOf('secondary', FULL_IMG), { force: true });
  // The next file gets the lab as it found it: both site workers running.
  if (readState()?.sites.secondary.processes.worker === undefined) await startSiteWorker('secondary');
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await connection?.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('--live against the lab', () => {
  it('the lab runbook is clean, and plan --live shows what each site has', async () => {
    const v = await live(['validate', '--live', LAB]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain(`${LAB}: ok (checked live)`);

    const p = await live(['plan', '--live', LAB]);
    expect(p.code, p.stdout + p.stderr).toBe(0);
    expect(p.stdout).toContain('Live (each site as its own worker sees it)');
    expect(p.stdout).toMatch(/db-1\s+running\s+\d+ MiB\s+disks: vda [\d.]+ GiB, vdb [\d.]+ GiB, vdc/);
    expect(p.stdout).toMatch(/failover needs [\d.]+ GiB of storage .*; [\d.]+ GiB free/);

    // The same workflow, run directly, is this workflow type's committed replay history.
    const plan = compileRunbookText(LAB_TEXT, LAB).plan!;
    const workflowId = `live-check/lab/test-${process.pid}`;
    const inv = await fetchInventories(client, plan, { workflowId });
    expect(inv.primary.reachable && inv.primary.vms.map((v) => v.found)).toEqual([true, true, true, true]);
    expect(inv.secondary.reachable && inv.secondary.networks.map((n) => n.name).sort()).toEqual([
      'bubble',
      'production',
    ]);
    await saveHistory(client, workflowId, 'siteInventoryWorkflow', 'lab-clean');
  });

  it('a VM missing at the primary is an error at its entry in the runbook', async () => {
    const { file, text } = variant('missing-vm', (t) =>
      t.replace('vms: [app-1, app-2]', 'vms: [app-1, app-2, app-9]'),
    );
    const r = await live(['validate', '--live', file]);
    expect(r.code, r.stderr).toBe(1);
    const errors = r.stdout.split('\n').filter((l) => l.includes(': error: '));
    expect(errors).toEqual([
      `${file}:${positionOf(text, 'app-9')}: error: VM 'app-9' does not exist at the primary site primary (check the name, or define the VM at the primary)`,
    ]);
  });

  it('a network role mapped to a name the secondary lacks is an error at that mapping', async () => {
    const { file, text } = variant('missing-network', (t) =>
      t.replace('bubble: bubble', 'bubble: no-such-net'),
    );
    const r = await live(['validate', '--live', '--json', file]);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      findings: Array<{ code: string; line: number; col: number; path: string; hint?: string }>;
    };
    expect(out.ok).toBe(false);
    const [line, col] = positionOf(text, 'no-such-net').split(':').map(Number);
    expect(out.findings).toEqual([
      expect.objectContaining({
        code: 'network-missing',
        path: 'sites.secondary.networks.bubble',
        line,
        col,
      }),
    ]);
    expect(out.findings[0]?.hint).toBe('existing networks: bubble, production');
  });

  it('secondary storage too small for the replicas and overlays is an error at sites.secondary.storage', async () => {
    // 16 MiB of ext4, loop-mounted inside the secondary site: far less than the lab's disks.
    mkdirSync(hostPathOf('secondary', FULL_DIR), { recursive: true });
    await exec('truncate', ['-s', '16M', hostPathOf('secondary', FULL_IMG)]);
    await exec('mkfs.ext4', ['-q', '-F', hostPathOf('secondary', FULL_IMG)]);
    await inSite('secondary', ['mount', '-o', 'loop', FULL_IMG, FULL_DIR]);
    mounted = true;
    const { file, text } = variant('full-disk', (t) => {
      const second = t.indexOf('storage: /var/lib/lifeboat/storage', t.indexOf('  secondary:'));
      return `${t.slice(0, second)}storage: ${FULL_DIR}${t.slice(second + 'storage: /var/lib/lifeboat/storage'.length)}`;
    });
    const r = await live(['plan', '--live', file]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.includes(': error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${positionOf(text, FULL_DIR)}: error: storage ${FULL_DIR} at site secondary has 0\\.01 GiB free; the replicas need up to [\\d.]+ GiB plus [\\d.]+ GiB for drill overlays`,
      ),
    );
    await inSite('secondary', ['umount', FULL_DIR]);
    mounted = false;
  });

  it('a site whose worker is stopped is a finding at its name within the schedule-to-start timeout', async () => {
    await stopSiteWorker('secondary');
    try {
      const r = await live(['validate', '--live', '--site-timeout', '5000', LAB]);
      expect(r.code, r.stderr).toBe(1);
      const errors = r.stdout.split('\n').filter((l) => l.includes(': error: '));
      expect(errors).toEqual([
        `${LAB}:${positionOf(LAB_TEXT, 'secondary', 1)}: error: site secondary (secondary) could not be checked: no worker of site secondary picked the request up within 5 s (start the site's worker: lifeboat worker site secondary (in the lab: lifeboat lab workers start))`,
      ]);
    } finally {
      await startSiteWorker('secondary');
    }
  });
});
