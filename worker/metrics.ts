import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Lifeboat's own figures (prom-client) on `/metrics`. When the SDK's Prometheus endpoint is
 * given, its text is appended, so one scrape target carries both Lifeboat's and Temporal's metrics.
 */
export interface LifeboatMetrics {
  registry: Registry;
  activitiesStarted: Counter<'activity' | 'queue'>;
  activitiesFinished: Counter<'activity' | 'queue' | 'outcome'>;
  activityDuration: Histogram<'activity' | 'queue'>;
  activitiesInFlight: Gauge<'queue'>;
  workerInfo: Gauge<'kind' | 'queue' | 'site'>;
}

export function createLifeboatMetrics(): LifeboatMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lifeboat_' });
  return {
    registry,
    activitiesStarted: new Counter({
      name: 'lifeboat_activities_started_total',
      help: 'Activities this worker started',
      labelNames: ['activity', 'queue'],
      registers: [registry],
    }),
    activitiesFinished: new Counter({
      name: 'lifeboat_activities_finished_total',
      help: 'Activities this worker finished, by outcome (completed, failed, cancelled)',
      labelNames: ['activity', 'queue', 'outcome'],
      registers: [registry],
    }),
    activityDuration: new Histogram({
      name: 'lifeboat_activity_duration_seconds',
      help: 'Wall time of activity executions on this worker',
      labelNames: ['activity', 'queue'],
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    activitiesInFlight: new Gauge({
      name: 'lifeboat_activities_in_flight',
      help: 'Activities running on this worker now',
      labelNames: ['queue'],
      registers: [registry],
    }),
    workerInfo: new Gauge({
      name: 'lifeboat_worker_info',
      help: 'Constant 1, labelled with what this worker serves',
      labelNames: ['kind', 'queue', 'site'],
      registers: [registry],
    }),
  };
}

/** Fetches the SDK's Prometheus text; empty when it is not up yet (Core starts it lazily). */
async function sdkMetricsText(sdkAddress: string): Promise<string> {
  try {
    const res = await fetch(`http://${sdkAddress}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

export interface MetricsServer {
  server: Server;
  /** `host:port` actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: {
  metrics: LifeboatMetrics;
  host: string;
  port: number;
  sdkAddress?: string;
}): Promise<MetricsServer> {
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    try {
      const own = await opts.metrics.registry.metrics();
      const sdk = opts.sdkAddress ? await sdkMetricsText(opts.sdkAddress) : '';
      res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
      res.end(sdk ? `${own}\n${sdk}` : own);
    } catch (err) {
      res.writeHead(500).end(`${err instanceof Error ? err.message : String(err)}\n`);
    }
  };
  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    server,
    address: `${opts.host}:${bound.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
