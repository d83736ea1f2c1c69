/**
 * A site worker serving replication only, started inside a lab site by the cycle tests
 * (the full `lifeboat worker site` also needs the hypervisor driver). argv[2]: the site name.
 */
import { replicationSiteWorker } from '../../../worker/replication.ts';
import { runWorkerProcess } from '../../../worker/run.ts';

const site = process.argv[2];
if (site === undefined) throw new Error('usage: site-worker.ts <site>');
await runWorkerProcess({ ...(await replicationSiteWorker(site)), metricsPort: 0, shutdownGraceMs: 2_000 });
