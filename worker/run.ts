import { Runtime, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { connectClient, connectNative, resolveTemporalTarget } from '../platform/connection.ts';
import { PlatformError } from '../platform/errors.ts';
import { freePort } from '../platform/free-port.ts';
import { ensureSearchAttributes } from '../platform/search-attributes.ts';
import { activityObservability } from './activity-metrics.ts';
import { createLogger, PinoSdkLogger } from './logger.ts';
import { createLifeboatMetrics, type MetricsServer, startMetricsServer } from './metrics.ts';

/**
 * One worker process: the Temporal Runtime with its logs in pino and its metrics on a Prometheus
 * endpoint, one Worker on one task queue, Lifeboat's `/metrics`, and a graceful stop on
 * SIGTERM/SIGINT (in-flight activities get `shutdownGraceMs` to finish before they are cancelled).
 */
export interface WorkerProcessOptions {
  kind: 'orchestrator' | 'site';
  taskQueue: string;
  site?: string;
  /** Activity functions by name (what the SDK's `activities` option takes). */
  activities: object;
  /** Workflow module (orchestrator only); its exports are the registered workflow types. */
  workflowsPath?: string;
  /** Host for both metrics endpoints (default 127.0.0.1). */
  metricsHost?: string;
  /** Lifeboat `/metrics` port; 0 picks a free port, undefined turns it off. */
  metricsPort?: number;
  /** The SDK's Prometheus endpoint port; 0 picks a free port, undefined turns it off. */
  sdkMetricsPort?: number;
  shutdownGraceMs?: number;
  logger?: Logger;
  /** Adds metrics of the worker's activities (e.g. replication) to its `/metrics` registry. */
  registerMetrics?: (registry: Registry) => void;
  /** Called once the worker polls, with the metrics addresses (tests and the CLI print them). */
  onReady?: (ready: { metricsAddress: string | undefined; sdkMetricsAddress: string | undefined }) => void;
}

export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<void> {
  const logger =
    opts.logger ??
    createLogger({
      component: 'worker',
      kind: opts.kind,
      queue: opts.taskQueue,
      ...(opts.site ? { site: opts.site } : {}),
    });
  const host = opts.metricsHost ?? '127.0.0.1';
  const sdkPort = opts.sdkMetricsPort === 0 ? await freePort(host) : opts.sdkMetricsPort;
  const sdkMetricsAddress = sdkPort !== undefined ? `${host}:${sdkPort}` : undefined;

  // Signals are ours, not the Runtime's: we log them and drive the shutdown order ourselves.
  Runtime.install({
    logger: new PinoSdkLogger(logger.child({ source: 'temporal-sdk' })),
    shutdownSignals: [],
    telemetryOptions: {
      logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
      ...(sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } : {}),
    },
  });

  // A stop asked for while the worker is still starting is honoured as soon as it exists.
  let stopRequested: NodeJS.Signals | undefined;
  const early = (signal: NodeJS.Signals) => {
    stopRequested = signal;
  };
  process.on('SIGTERM', early);
  process.on('SIGINT', early);
  logger.info('worker starting');

  const metrics = createLifeboatMetrics();
  opts.registerMetrics?.(metrics.registry);
  metrics.workerInfo.set({ kind: opts.kind, queue: opts.taskQueue, site: opts.site ?? '' }, 1);
  let metricsServer: MetricsServer | undefined;
  if (opts.metricsPort !== undefined) {
    metricsServer = await startMetricsServer({
      metrics,
      host,
      port: opts.metricsPort,
      ...(sdkMetricsAddress ? { sdkAddress: sdkMetricsAddress } : {}),
    });
  }

  const target = await resolveTemporalTarget();
  if (opts.kind === 'orchestrator') {
    // Deployed clusters get their search attributes from the orchestrator's first start.
    const { connection: clientConnection } = await connectClient(target);
    try {
      await ensureSearchAttributes(clientConnection, target.namespace);
    } catch (err) {
      logger.warn(
        { err: err instanceof PlatformError ? err.describe() : String(err) },
        'search attributes not registered',
      );
    } finally {
      await clientConnection.close();
    }
  }
  const { connection } = await connectNative(target);
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: target.namespace,
      taskQueue: opts.taskQueue,
      activities: opts.activities,
      ...(opts.workflowsPath ? { workflowsPath: opts.workflowsPath } : {}),
      shutdownGraceTime: opts.shutdownGraceMs ?? 30_000,
      interceptors: { activity: [activityObservability(metrics, logger)] },
    });
  } catch (err) {
    await connection.close();
    await metricsServer?.close();
    throw new PlatformError(
      'WORKER_START_FAILED',
      `the ${opts.kind} worker could not start: ${err instanceof Error ? err.message : String(err)}`,
      { queue: opts.taskQueue, address: target.address },
      'read the log lines above',
    );
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight activities');
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.off('SIGTERM', early);
  process.off('SIGINT', early);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  logger.info(
    {
      address: target.address,
      namespace: target.namespace,
      metrics: metricsServer?.address,
      sdkMetrics: sdkMetricsAddress,
    },
    'worker started',
  );
  opts.onReady?.({ metricsAddress: metricsServer?.address, sdkMetricsAddress });
  try {
    // run() switches the worker to RUNNING before its first await, so a stop can follow at once.
    const running = worker.run();
    if (stopRequested) stop(stopRequested);
    await running;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await connection.close().catch(() => undefined);
    await metricsServer?.close();
    logger.info('worker stopped');
  }
}
