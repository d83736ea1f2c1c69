/**
 * The interpreter at scale: the 10,000-VM generated runbook (bench/gen-runbook.ts) failed over
 * through the controller on RecordingDriver sites, gates approved by the bench operator as they
 * open. Records wall time, history sizes (operation, controller, largest group child) and the
 * largest payload against Temporal's limits. Writes bench/results/interpreter.json.
 * `LIFEBOAT_BENCH_VMS` / `LIFEBOAT_BENCH_GROUPS` shrink it for a quick look.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createSiteActivities } from '../activities/index.ts';
import { decideGate, startOperation, waitingGates } from '../cli/runbook-client.ts';
import { ensureDevServer, stopDevServer } from '../platform/dev-server.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { controllerWorkflowId, siteTaskQueue } from '../platform/names.ts';
import { compileRunbookText } from '../runbooks/index.ts';
import { ALICE_SECRET, isolate, planVms } from '../test/support/plans.ts';
import { freeLoopbackPort } from '../test/support/ports.ts';
import { RecordingDriver } from '../test/support/recording-driver.ts';
import type { OperationResult } from '../workflows/types.ts';
import { generateRunbook } from './gen-runbook.ts';

const VMS = Number(process.env.LIFEBOAT_BENCH_VMS ?? 10_000);
const GROUPS = Number(process.env.LIFEBOAT_BENCH_GROUPS ?? 500);
const BOOT_CONCURRENCY = 50;
const PAYLOAD_LIMIT = 2 * 1024 * 1024;
const HISTORY_EVENT_LIMIT = 51_200;
const HISTORY_BYTES_LIMIT = 50 * 1024 * 1024;

Runtime.install({ logger: new DefaultLogger('ERROR') });

const compiled = compileRunbookText(
  generateRunbook({ vms: VMS, groups: GROUPS, seed: 42 }),
  'generated.yaml',
);
if (!compiled.plan)
  throw new Error(`generated runbook does not compile: ${JSON.stringify(compiled.findings.slice(0, 3))}`);
const plan = isolate(compiled.plan, Date.now().toString(36));

let home: string | undefined;
let address = process.env.TEMPORAL_ADDRESS;
if (!address) {
  home = mkdtempSync(path.join(tmpdir(), 'lifeboat-bench-interp-'));
  address = (await ensureDevServer({ home, port: await freeLoopbackPort(), headless: true })).address;
}
const hooksDir = mkdtempSync(path.join(tmpdir(), 'lifeboat-bench-hooks-'));
writeFileSync(path.join(hooksDir, 'notify.sh'), '#!/bin/sh\nexit 0\n');
chmodSync(path.join(hooksDir, 'notify.sh'), 0o755);

const connection = await Connection.connect({ address });
const client = new Client({ connection });
const native = await NativeConnection.connect({ address });
const taskQueue = `bench-${plan.runbook.name}`;
const vms = planVms(plan);
const sites = {
  primary: new RecordingDriver(plan.sites.primary.name, {
    vms: vms.map((name) => ({ name, state: 'running' as const })),
    maxCalls: 1000,
  }),
  secondary: new RecordingDriver(plan.sites.secondary.name, {
    vms: vms.map((name) => ({ name })),
    maxCalls: 1000,
  }),
};
const workers = [
  await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: path.join(REPO_ROOT, 'workflows', 'index.ts'),
      logger: new DefaultLogger('ERROR'),
    }),
    maxConcurrentWorkflowTaskExecutions: 20,
  }),
  ...Object.values(sites).map((driver) =>
    Worker.create({
      connection: native,
      taskQueue: siteTaskQueue(driver.site),
      activities: createSiteActivities({ siteName: driver.site, driver, probes: driver, hooksDir }),
      maxConcurrentActivityTaskExecutions: 200,
    }),
  ),
];
const ready = await Promise.all(workers);
const running = ready.map((w) => w.run());

const t0 = performance.now();
const op = await startOperation(client, {
  plan,
  kind: 'failover',
  options: { bootConcurrency: BOOT_CONCURRENCY },
  taskQueue,
});
const handle = client.workflow.getHandle(op.id);
let approvals = 0;
let done = false;
const approver = (async () => {
  while (!done) {
    for (const g of await waitingGates(client, plan.runbook.name).catch(() => [])) {
      await decideGate(client, {
        runbook: plan.runbook.name,
        stepId: g.stepId,
        decision: 'approve',
        reason: 'benchmark',
        key: { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' },
      }).then(
        () => approvals++,
        () => undefined,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
})();
const result = (await handle.result()) as OperationResult;
const wallMs = Math.round(performance.now() - t0);
done = true;
await approver;

interface HistoryFigures {
  workflowId: string;
  events: number;
  bytes: number;
  largestPayloadBytes: number;
}

/** Largest `data` of any Payload anywhere in the history (inputs, results, update args). */
function largestPayload(value: unknown): number {
  let max = 0;
  const walk = (v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    if (v instanceof Uint8Array) return;
    const o = v as Record<string, unknown>;
    if (o.data instanceof Uint8Array && 'metadata' in o) max = Math.max(max, o.data.length);
    for (const k of Object.keys(o)) walk(o[k]);
  };
  walk(value);
  return max;
}

async function figures(workflowId: string): Promise<HistoryFigures> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return {
    workflowId,
    events: h.events?.length ?? 0,
    bytes: proto.temporal.api.history.v1.History.encode(h).finish().length,
    largestPayloadBytes: largestPayload(h),
  };
}

const operation = await figures(op.id);
const controller = await figures(controllerWorkflowId(plan.runbook.name));
const children: HistoryFigures[] = [];
for (const g of plan.groups) children.push(await figures(`${op.id}/group/${g.name}`));
const maxBy = (k: keyof Omit<HistoryFigures, 'workflowId'>) =>
  children.reduce((a, b) => (b[k] > a[k] ? b : a));
const largest = Math.max(
  operation.largestPayloadBytes,
  controller.largestPayloadBytes,
  ...children.map((c) => c.largestPayloadBytes),
);

for (const w of ready) w.shutdown();
await Promise.allSettled(running);
await native.close();
await connection.close();
if (home) await stopDevServer(home);

const out = {
  benchmark: 'interpreter',
  measuredAt: new Date().toISOString(),
  node: process.version,
  input: {
    vms: VMS,
    groups: GROUPS,
    waves: plan.waves.length,
    planJsonBytes: JSON.stringify(plan).length,
    kind: 'failover',
  },
  driver: 'RecordingDriver (test/support), no delays',
  bootConcurrency: BOOT_CONCURRENCY,
  outcome: result.outcome,
  groupsSucceeded: Object.values(result.groups).filter((s) => s === 'succeeded').length,
  approvals,
  wallMs,
  vmsPerSecond: Math.round((VMS / wallMs) * 1000 * 10) / 10,
  secondaryVmsRunning: vms.filter((v) => sites.secondary.vmState(v) === 'running').length,
  history: {
    operation,
    controller,
    groupChildren: children.length,
    largestChildByEvents: maxBy('events'),
    largestChildByBytes: maxBy('bytes'),
    totalChildEvents: children.reduce((n, c) => n + c.events, 0),
  },
  largestPayloadBytes: largest,
  limits: {
    payloadBytes: PAYLOAD_LIMIT,
    historyEvents: HISTORY_EVENT_LIMIT,
    historyBytes: HISTORY_BYTES_LIMIT,
  },
  largestPayloadShareOfLimit: Math.round((largest / PAYLOAD_LIMIT) * 1000) / 1000,
};
mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  path.join(REPO_ROOT, 'bench', 'results', 'interpreter.json'),
  `${JSON.stringify(out, null, 2)}\n`,
);
console.log(JSON.stringify(out, null, 2));
