/**
 * In-process Lifeboat for controller tests: an orchestrator worker (the real workflow bundle) on
 * its own task queue and one worker per site with a RecordingDriver, against the run's Temporal
 * server (TEMPORAL_ADDRESS, set by the integration global setup) or one the test passes in.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { expect } from 'vitest';
import { createOrchestratorActivities, createSiteActivities } from '../../../activities/index.ts';
import { decideGate, RequestRefusedError, startOperation } from '../../../cli/runbook-client.ts';
import { REPO_ROOT } from '../../../platform/home.ts';
import { siteTaskQueue } from '../../../platform/names.ts';
import type { OperationKind, Plan } from '../../../runbooks/plan.ts';
import type { ApprovalRecord, OperationOptions, StartOperationResult } from '../../../workflows/types.ts';
import { ALICE_SECRET, isolate, planVms } from '../../support/plans.ts';
import { RecordingDriver, type RecordingDriverOptions } from '../../support/recording-driver.ts';
import { recordingRestorer } from '../../support/recording-restorer.ts';
import { workflowBundle } from '../../support/temporal.ts';

try {
  // Expected failures (injected faults, rollbacks) would otherwise flood the test output.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed by another module of this test process.
}

/**
 * How long a harness worker that is shutting down lets its activities run before it cancels them
 * (the production worker allows 30 s). With the default, its shutdown waited on an activity that
 * waits for a workflow task this very worker no longer takes (a Schedule's request to the
 * controller at the end of a test), and held the test open until its timeout.
 */
const SHUTDOWN_GRACE = '3s';

export const WORKFLOWS_PATH = path.join(REPO_ROOT, 'workflows', 'index.ts');

export function temporalAddress(): string {
  const a = process.env.TEMPORAL_ADDRESS;
  if (!a) throw new Error('TEMPORAL_ADDRESS is not set (the integration global setup sets it)');
  return a;
}

export interface Harness {
  client: Client;
  plan: Plan;
  taskQueue: string;
  primary: RecordingDriver;
  secondary: RecordingDriver;
  /** Each site's storage directory (its fence and DR-state records). */
  storage: Record<'primary' | 'secondary', string>;
  start(kind: OperationKind, options?: OperationOptions, plan?: Plan): Promise<StartOperationResult>;
}

export interface HarnessOptions {
  /** Driver options per site role; the plan's VMs are defined (running) at the primary only. */
  driver?: (role: 'primary' | 'secondary') => RecordingDriverOptions;
  /** Run site workers here (false: the test runs them itself, e.g. in a child process). */
  siteWorkers?: boolean;
  /** Run the orchestrator worker here (false: the test runs it elsewhere). */
  orchestrator?: boolean;
  /** The hooks directory of both sites, or one per site. */
  hooksDir?: string | Record<'primary' | 'secondary', string>;
  /** The orchestrator's task queue (default: one of the test's own). */
  taskQueue?: string;
  /**
   * A server the test already holds (e.g. a time-skipping TestWorkflowEnvironment); the harness
   * uses its client and worker connection and leaves closing them to the test.
   */
  server?: HarnessServer;
}

export interface HarnessServer {
  client: Client;
  nativeConnection: NativeConnection;
}

/** Runs `fn` with workers up; everything is shut down when it settles. */
export async function withHarness<T>(
  basePlan: Plan,
  opts: HarnessOptions,
  fn: (h: Harness) => Promise<T>,
): Promise<T> {
  const tag = randomUUID().slice(0, 8);
  const plan = isolate(basePlan, tag);
  const server = opts.server ? { ...opts.server, close: async () => {} } : await connectRunServer();
  const { client, nativeConnection: native } = server;
  const namespace = client.options.namespace;
  const taskQueue = opts.taskQueue ?? `lifeboat-test-${tag}`;
  const vms = planVms(plan).map((name) => ({ name }));
  const drivers = {
    primary: new RecordingDriver(plan.sites.primary.name, {
      vms: vms.map((v) => ({ ...v, state: 'running' as const })),
      ...opts.driver?.('primary'),
    }),
    // Nothing is defined at the secondary, as on a real one: drills and failovers build their VMs
    // there from points (the recording restorer defines them).
    secondary: new RecordingDriver(plan.sites.secondary.name, { ...opts.driver?.('secondary') }),
  };
  const workers: Worker[] = [];
  const evidenceHome = mkdtempSync(path.join(tmpdir(), 'lifeboat-evidence-'));
  const storage = {
    primary: path.join(evidenceHome, 'sites', drivers.primary.site),
    secondary: path.join(evidenceHome, 'sites', drivers.secondary.site),
  };
  // The key both sites sign their DR-state records with (a deployment derives it from transfer.key).
  const drStateKey = randomBytes(32);
  if (opts.orchestrator !== false) {
    workers.push(
      await Worker.create({
        connection: native,
        namespace,
        taskQueue,
        shutdownGraceTime: SHUTDOWN_GRACE,
        workflowBundle: await workflowBundle(WORKFLOWS_PATH),
        activities: createOrchestratorActivities({ home: evidenceHome }),
      }),
    );
  }
  if (opts.siteWorkers !== false) {
    for (const role of ['primary', 'secondary'] as const) {
      const driver = drivers[role];
      workers.push(
        await Worker.create({
          connection: native,
          namespace,
          taskQueue: siteTaskQueue(driver.site),
          shutdownGraceTime: SHUTDOWN_GRACE,
          activities: createSiteActivities({
            siteName: driver.site,
            driver,
            probes: driver,
            restorer: recordingRestorer(driver),
            // The site's fence and DR-state records (a disaster failover fences the primary there).
            storage: storage[role],
            drStateKey,
            ...(opts.hooksDir === undefined
              ? {}
              : { hooksDir: typeof opts.hooksDir === 'string' ? opts.hooksDir : opts.hooksDir[role] }),
          }),
        }),
      );
    }
  }
  const running = workers.map((w) => w.run());
  try {
    return await fn({
      client,
      plan,
      taskQueue,
      primary: drivers.primary,
      secondary: drivers.secondary,
      storage,
      start: (kind, options, p = plan) => startOperation(client, { plan: p, kind, options, taskQueue }),
    });
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await server.close();
  }
}

/** Connections of the harness's own to the run's Temporal server (TEMPORAL_ADDRESS). */
async function connectRunServer(): Promise<HarnessServer & { close(): Promise<void> }> {
  const address = temporalAddress();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    client,
    nativeConnection,
    close: async () => {
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** What a workflow failed with (the failure's cause), or undefined when it completed. */
export function failureOf(
  result: Promise<unknown>,
): Promise<{ type?: string; message?: string; details?: unknown[] } | undefined> {
  return result.then(
    () => undefined,
    (e: { cause?: { type?: string; message?: string; details?: unknown[] } }) => e.cause,
  );
}

const alice = { name: 'alice', secretKey: ALICE_SECRET, publicKey: '' };

/** alice approves b's gate, the diamond's one, with `reason`: through the client, as the CLI does. */
export function aliceApproves(h: Harness, reason: string): Promise<ApprovalRecord> {
  return decideGate(h.client, {
    runbook: h.plan.runbook.name,
    stepId: 'b/before/0',
    decision: 'approve',
    reason,
    key: alice,
  });
}

/** The refusal `p` ends with (it must be one: a RequestRefusedError, the Update's validator said no). */
export async function refusal(p: Promise<unknown>): Promise<RequestRefusedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestRefusedError);
  return err as RequestRefusedError;
}

/** Polls `probe` until it returns a value (not undefined), for up to `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
