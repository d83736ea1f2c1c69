/**
 * A whole Lifeboat worker set in one process (orchestrator + site workers with file-backed
 * RecordingDrivers), so a test can SIGKILL it mid-operation and start it again.
 * Configuration comes as JSON in LIFEBOAT_TEST_WORKER; prints `ready` once polling.
 */

import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createOrchestratorActivities, createSiteActivities } from '../../../activities/index.ts';
import { siteTaskQueue } from '../../../platform/names.ts';
import { RecordingDriver } from '../../support/recording-driver.ts';
import { recordingRestorer } from '../../support/recording-restorer.ts';

export interface WorkerProcessConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  workflowsPath: string;
  sites: Array<{ name: string; file: string; vms: Array<{ name: string; state?: 'running' | 'shut off' }> }>;
  delayMs: number;
  hooksDir?: string;
}

const cfg = JSON.parse(process.env.LIFEBOAT_TEST_WORKER ?? '{}') as WorkerProcessConfig;
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Installed already by an imported module; its logger is fine too.
}
const connection = await NativeConnection.connect({ address: cfg.address });
const workers = [
  await Worker.create({
    connection,
    namespace: cfg.namespace,
    taskQueue: cfg.taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: cfg.workflowsPath,
      logger: new DefaultLogger('ERROR'),
    }),
    activities: createOrchestratorActivities({
      home: mkdtempSync(path.join(tmpdir(), 'lifeboat-evidence-')),
    }),
  }),
];
for (const site of cfg.sites) {
  const driver = new RecordingDriver(site.name, { file: site.file, vms: site.vms, delayMs: cfg.delayMs });
  workers.push(
    await Worker.create({
      connection,
      namespace: cfg.namespace,
      taskQueue: siteTaskQueue(site.name),
      activities: createSiteActivities({
        siteName: site.name,
        driver,
        probes: driver,
        restorer: recordingRestorer(driver),
        hooksDir: cfg.hooksDir,
        // The site's fence and DR-state records (a disaster failover fences the primary there).
        storage: path.join(tmpdir(), `lifeboat-fences-${process.pid}`, site.name),
        // A fixed test key: a restarted worker checks what its predecessor signed.
        drStateKey: createHash('sha256').update('lifeboat test dr-state key').digest(),
      }),
    }),
  );
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const w of workers) w.shutdown();
});
await Promise.all(workers.map((w) => w.run()));
