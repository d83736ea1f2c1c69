import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { labDown } from '../../lab/lab.ts';
import { readState } from '../../lab/state.ts';
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
/** Whether the lab was up before the run; a lab the run brought up is taken down after it. */
let labWasUp = false;

export async function setup(project: TestProject): Promise<void> {
  labWasUp = readState() !== undefined;
  home = mkdtempSync(path.join(tmpdir(), 'lifeboat-it-'));
  const server = await ensureDevServer({ home, port: await freeLoopbackPort(), headless: true });
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = server.namespace;
  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
}

export async function teardown(): Promise<void> {
  if (!labWasUp && readState() !== undefined) await labDown();
  if (!home) return;
  await stopDevServer(home);
  rmSync(home, { recursive: true, force: true });
}
