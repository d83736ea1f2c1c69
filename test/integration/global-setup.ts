import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { TestProject } from 'vitest/node';
import { borrowLab, type LentLab } from '../../lab/lend.ts';
import { ensureDevServer, stopDevServer } from '../../platform/dev-server.ts';
import { ensureSearchAttributes } from '../../platform/search-attributes.ts';
import { freeLoopbackPort } from '../support/ports.ts';
import { SHARED_SERVER_ENV, sharedServerNamespace } from '../support/shared-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
  }
}

/**
 * One Temporal dev server serves the whole integration run: a throw-away database on a free
 * loopback port, Lifeboat's search attributes registered, shared through TEMPORAL_ADDRESS. When
 * scripts/test-all.sh runs the `integration` and `no-lab` projects at once, it starts that one
 * server itself (test/support/shared-server.ts) and each project uses its own namespace on it.
 * Only the `integration` project borrows the lab.
 */
let home: string | undefined;
let startedServer = false;
/** The lab as the run found it, given back after the run (lab/lend.ts). */
let lab: LentLab | undefined;

export async function setup(project: TestProject): Promise<void> {
  if (project.name === 'integration') lab = await borrowLab();
  home = mkdtempSync(path.join(tmpdir(), 'lifeboat-it-'));
  // Reports made during the run are signed with a key of the run's own, never the user's.
  process.env.LIFEBOAT_REPORT_KEY_DIR = path.join(home, 'report-key');
  const shared = process.env[SHARED_SERVER_ENV];
  let address: string;
  let namespace: string;
  if (shared) {
    address = shared;
    namespace = sharedServerNamespace(project.name);
    const connection = await Connection.connect({ address });
    try {
      await ensureSearchAttributes(connection, namespace);
    } finally {
      await connection.close();
    }
  } else {
    const server = await ensureDevServer({ home, port: await freeLoopbackPort(), headless: true });
    startedServer = true;
    address = server.address;
    namespace = server.namespace;
  }
  process.env.TEMPORAL_ADDRESS = address;
  process.env.TEMPORAL_NAMESPACE = namespace;
  project.provide('temporalAddress', address);
  project.provide('temporalNamespace', namespace);
}

export async function teardown(): Promise<void> {
  await lab?.giveBack();
  if (!home) return;
  if (startedServer) await stopDevServer(home);
  rmSync(home, { recursive: true, force: true });
}
