/**
 * The replication side of a site worker: the transfer server on the site's inter-site address
 * (mutual TLS with the site's certificate, registrations kept under the site's storage so a
 * restarted worker serves the same transfers), the replica store and the cycle metrics.
 * Configured by environment, so `lifeboat worker site <name>` needs no flags:
 *   LIFEBOAT_REPLICATION_LISTEN  host:port of the transfer server (unset: no replication)
 *   LIFEBOAT_REPLICATION_TLS_DIR ca.crt + site-<name>.crt/.key + transfer.key (replication/tls.ts)
 *   LIFEBOAT_SITE_STORAGE        the site's storage root; LIFEBOAT_SITE_URI its libvirt URI
 */

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import {
  createReplicationActivities,
  createReplicationMetrics,
  type ReplicationActivities,
  type ReplicationSiteDeps,
} from '../activities/replication.ts';
import { PlatformError } from '../platform/errors.ts';
import { siteTaskQueue } from '../platform/names.ts';
import { LibvirtSession } from '../replication/export/libvirt-session.ts';
import { finishRetention } from '../replication/retention.ts';
import { registerRpoMetrics } from '../replication/rpo-metrics.ts';
import { ReplicaStore } from '../replication/store.ts';
import { loadSiteTls, loadTransferKey } from '../replication/tls.ts';
import { TransferServer } from '../replication/transfer/server.ts';
import type { WorkerProcessOptions } from './run.ts';

export interface ReplicationService {
  deps: ReplicationSiteDeps;
  activities: ReplicationActivities;
  server: TransferServer;
  registerMetrics(registry: Registry): void;
}

function parseListen(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = v.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number.parseInt(v.slice(i + 1), 10);
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PlatformError(
      'WORKER_START_FAILED',
      `LIFEBOAT_REPLICATION_LISTEN=${v} is not host:port`,
      { value: v },
      'e.g. 10.213.1.1:7443',
    );
  }
  return { host, port };
}

/** Starts the replication service of a site worker, or returns null when it is not configured. */
export async function startReplicationService(
  siteName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReplicationService | null> {
  const listen = env.LIFEBOAT_REPLICATION_LISTEN;
  if (listen === undefined || listen === '') return null;
  const tlsDir = env.LIFEBOAT_REPLICATION_TLS_DIR;
  const storage = env.LIFEBOAT_SITE_STORAGE;
  if (!tlsDir || !storage) {
    throw new PlatformError(
      'WORKER_START_FAILED',
      'replication needs LIFEBOAT_REPLICATION_TLS_DIR and LIFEBOAT_SITE_STORAGE',
      { site: siteName },
      'the lab sets them for its site workers',
    );
  }
  const tls = await loadSiteTls(tlsDir, siteName);
  const transferKey = await loadTransferKey(tlsDir);
  const { host, port } = parseListen(listen);
  const server = await TransferServer.start({
    tls,
    site: siteName,
    transferKey,
    host,
    port,
    stateDir: join(storage, 'replication', 'transfers'),
  });
  const metrics = createReplicationMetrics();
  const uri = env.LIFEBOAT_SITE_URI ?? 'qemu:///system';
  const deps: ReplicationSiteDeps = {
    virsh: { uri, session: new LibvirtSession(uri) },
    storage,
    server,
    tls,
    transferKey,
    store: new ReplicaStore(join(storage, 'replicas')),
    metrics,
  };
  // A retention a crash cut short is finished before this worker serves its points. One that
  // cannot be (its journal disagrees with the files) keeps its journal; the next retention or
  // scrub of that VM fails saying so, rather than this worker not starting.
  for (const vm of await replicaVms(deps.store)) await finishRetention(deps.store, vm).catch(() => undefined);
  return {
    deps,
    activities: createReplicationActivities(deps),
    server,
    registerMetrics: (r) => {
      metrics.register(r);
      registerRpoMetrics(r, deps.store);
    },
  };
}

async function replicaVms(store: ReplicaStore): Promise<string[]> {
  try {
    return (await readdir(store.root, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * A site worker that serves only replication (no hypervisor driver needed): what the
 * replication tests and a storage-only site run. `lifeboat worker site` serves these too.
 */
export async function replicationSiteWorker(
  siteName: string,
): Promise<Pick<WorkerProcessOptions, 'kind' | 'taskQueue' | 'activities' | 'site' | 'registerMetrics'>> {
  const svc = await startReplicationService(siteName);
  if (svc === null) {
    throw new PlatformError(
      'WORKER_START_FAILED',
      'LIFEBOAT_REPLICATION_LISTEN is not set',
      { site: siteName },
      "set it to the site's inter-site address and a port, e.g. 10.213.1.1:7443",
    );
  }
  return {
    kind: 'site',
    site: siteName,
    taskQueue: siteTaskQueue(siteName),
    activities: svc.activities,
    registerMetrics: svc.registerMetrics,
  };
}
