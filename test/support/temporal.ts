import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { inject } from 'vitest';

/**
 * Helpers for integration tests: the run's one dev server (started by global-setup.ts), a
 * client on it, and in-process workers running real workflow bundles.
 */
let runtimeChosen = false;

/**
 * In-process workers log only warnings, so test output stays readable. Called lazily: a test
 * module that installs its own Runtime at import time keeps it.
 */
function quietRuntime(): void {
  if (runtimeChosen) return;
  runtimeChosen = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed.
  }
}

export function testServer(): { address: string; namespace: string } {
  return { address: inject('temporalAddress'), namespace: inject('temporalNamespace') };
}

export async function connectTestClient(): Promise<{ client: Client; connection: Connection }> {
  const { address, namespace } = testServer();
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection, namespace }), connection };
}

/** A task queue no other test uses. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** Bundles a workflow module once per test file (bundling takes about a second). */
export function workflowBundle(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  let b = bundles.get(workflowsPath);
  if (!b) {
    b = bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    bundles.set(workflowsPath, b);
  }
  return b;
}

/**
 * Runs `fn` while an in-process worker serves `taskQueue` with the given workflows and
 * activities; the worker is shut down when `fn` settles.
 */
export async function withWorker<T>(
  opts: { taskQueue: string; workflowsPath?: string; activities?: object },
  fn: () => Promise<T>,
): Promise<T> {
  quietRuntime();
  const { address, namespace } = testServer();
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue: opts.taskQueue,
      ...(opts.workflowsPath ? { workflowBundle: await workflowBundle(opts.workflowsPath) } : {}),
      ...(opts.activities ? { activities: opts.activities } : {}),
    });
    return await worker.runUntil(fn);
  } finally {
    await connection.close();
  }
}
