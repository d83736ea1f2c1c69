import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { labDown, labReset, labStartWorkers, labStopWorkers, labUp } from '../../lab/lab.ts';
import { type LabState, readState } from '../../lab/state.ts';
import { ensureDevServer, stopDevServer } from '../../platform/dev-server.ts';
import { freeLoopbackPort } from '../support/ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
  }
}

/**
 * One Temporal dev server serves the whole integration run: a throw-away database on a free
 * loopback port, Lifeboat's search attributes registered, shared through TEMPORAL_ADDRESS.
 */
let home: string | undefined;
/**
 * The lab as the run found it. A lab the run brought up is taken down after it; one that was up
 * (the demo's) is given back working: its VMs reset and booted, its relay and workers pointed
 * at the server they used before, not at this run's stopped one.
 */
let labBefore: LabState | undefined;

export async function setup(project: TestProject): Promise<void> {
  labBefore = readState();
  home = mkdtempSync(path.join(tmpdir(), 'lifeboat-it-'));
  // Reports made during the run are signed with a key of the run's own, never the user's.
  process.env.LIFEBOAT_REPORT_KEY_DIR = path.join(home, 'report-key');
  const server = await ensureDevServer({ home, port: await freeLoopbackPort(), headless: true });
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = server.namespace;
  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
}

export async function teardown(): Promise<void> {
  if (!labBefore && readState() !== undefined) await labDown();
  if (labBefore) await giveLabBack(labBefore);
  if (!home) return;
  await stopDevServer(home);
  rmSync(home, { recursive: true, force: true });
}

async function giveLabBack(before: LabState): Promise<void> {
  const port = Number.parseInt(before.relay?.listen?.split(':').at(-1) ?? '7233', 10);
  const now = readState();
  if (now?.ready && now.runbook === before.runbook) await labReset({ port });
  else {
    if (now) await labDown();
    await labUp({ runbook: before.runbook, port });
  }
  if (before.workers) await labStartWorkers({ port });
  else if (readState()?.workers) await labStopWorkers();
}
