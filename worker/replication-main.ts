/**
 * Entry point of a site worker that serves replication only (no hypervisor driver): run inside
 * a site as `node --import <tsx loader> worker/replication-main.ts <site>`, configured by the
 * environment described in worker/replication.ts. The replication tests and bench use it;
 * `lifeboat worker site <name>` serves the same activities beside the driver's.
 */
import { replicationSiteWorker } from './replication.ts';
import { runWorkerProcess } from './run.ts';

const site = process.argv[2];
if (site === undefined) throw new Error('usage: replication-main.ts <site>');
const metricsPort = process.env.LIFEBOAT_METRICS_PORT;
await runWorkerProcess({
  ...(await replicationSiteWorker(site)),
  metricsHost: process.env.LIFEBOAT_METRICS_HOST ?? '127.0.0.1',
  metricsPort: metricsPort === undefined ? 0 : Number(metricsPort),
  shutdownGraceMs: 2_000,
});
