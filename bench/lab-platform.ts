/**
 * What a benchmark on the real lab runs beside it: a Temporal dev server of its own (reached
 * from the sites through a relay on the management address), each site's worker inside its site
 * with the lab's replication TLS, and an orchestrator worker in this process. `close()` ends
 * exactly what it started, by pid or handle.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { MGMT_HOST_ADDRESS } from '../lab/config.ts';
import { spawnInSite, stopInSite } from '../lab/exec.ts';
import { relayArgs } from '../lab/relay.ts';
import { labReplicationEnv } from '../lab/replication-tls.ts';
import { siteWorkerArgv } from '../lab/workers.ts';
import { ensureDevServer, stopDevServer } from '../platform/dev-server.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../platform/names.ts';
import { freeLoopbackPort } from '../test/support/ports.ts';

export interface LabPlatform {
  client: Client;
  close(): Promise<void>;
}

export async function startLabPlatform(opts: {
  /** The bench's own Lifeboat home (the server's database lives there). */
  home: string;
  /** Names the bench's site workers, so only they are stopped. */
  key: string;
  /** The orchestrator worker's activities, if the bench's workflows call any. */
  activities?: object;
}): Promise<LabPlatform> {
  const port = await freeLoopbackPort();
  const server = await ensureDevServer({ home: opts.home, port, headless: true });
  const relay = spawn('socat', relayArgs(port), { stdio: 'ignore' });
  for (const site of ['primary', 'secondary'] as const) {
    await spawnInSite(site, siteWorkerArgv(site), {
      key: opts.key,
      env: {
        ...process.env,
        ...labReplicationEnv(site),
        TEMPORAL_ADDRESS: `${MGMT_HOST_ADDRESS}:${port}`,
        TEMPORAL_NAMESPACE: server.namespace,
        LIFEBOAT_LOG_LEVEL: 'warn',
      },
      cwd: REPO_ROOT,
    });
  }
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const native = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({
    connection: native,
    namespace: server.namespace,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    workflowsPath: path.join(REPO_ROOT, 'workflows', 'index.ts'),
    ...(opts.activities ? { activities: opts.activities } : {}),
  });
  const running = worker.run();
  return {
    client,
    async close() {
      worker.shutdown();
      await running.catch(() => undefined);
      await native.close();
      await connection.close();
      for (const site of ['primary', 'secondary'] as const)
        await stopInSite(site, opts.key).catch(() => false);
      relay.kill('SIGTERM');
      await stopDevServer(opts.home);
    },
  };
}
