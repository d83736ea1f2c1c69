import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { borrowLab, type LentLab } from '../../lab/lend.ts';
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
/** The lab as the run found it, given back after the run (lab/lend.ts). */
let lab: LentLab | undefined;

export async function setup(project: TestProject): Promise<void> {
  lab = await borrowLab();
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
  await lab?.giveBack();
  if (!home) return;
  await stopDevServer(home);
  rmSync(home, { recursive: true, force: true });
}
