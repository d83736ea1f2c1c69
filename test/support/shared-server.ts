/**
 * The Temporal dev server scripts/test-all.sh starts once for both integration projects, which
 * run at the same time: `start <home>` prints its address, `stop <home>` ends it (by pid). The
 * lab's project uses the `default` namespace, the `no-lab` project its own, created at start.
 */
import { ensureDevServer, stopDevServer } from '../../platform/dev-server.ts';
import { freeLoopbackPort } from './ports.ts';

/** Set by test-all.sh: the integration projects' global setup uses this server, not one of its own. */
export const SHARED_SERVER_ENV = 'LIFEBOAT_TEST_TEMPORAL_ADDRESS';
const NO_LAB_PROJECT_NAMESPACE = 'lifeboat-it-no-lab';

export function sharedServerNamespace(project: string): string {
  return project === 'integration' ? 'default' : NO_LAB_PROJECT_NAMESPACE;
}

async function main(argv: string[]): Promise<void> {
  const [verb, home] = argv;
  if (!home || (verb !== 'start' && verb !== 'stop')) {
    throw new Error('usage: shared-server.ts start|stop <home>');
  }
  if (verb === 'stop') {
    await stopDevServer(home);
    return;
  }
  // start-dev creates `default` and the namespace it is given; search attributes are added to
  // both by each project's global setup.
  const server = await ensureDevServer({
    home,
    port: await freeLoopbackPort(),
    headless: true,
    namespace: NO_LAB_PROJECT_NAMESPACE,
  });
  process.stdout.write(`${server.address}\n`);
}

if (process.argv[1]?.endsWith('shared-server.ts')) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`shared-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
