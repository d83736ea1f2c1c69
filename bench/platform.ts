import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureDevServer, stopDevServer } from '../platform/dev-server.ts';
import { ensureEmbeddedWorkers, stopEmbeddedWorkers } from '../platform/embedded-workers.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { freeLoopbackPort } from '../test/support/ports.ts';

/**
 * Platform timings: embedded server cold start (new and existing database), reuse, stop, and
 * the embedded orchestrator worker's start until it polls. Writes bench/results/platform.json.
 */
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, Math.round(performance.now() - t)];
}

const home = mkdtempSync(path.join(tmpdir(), 'lifeboat-bench-'));
const port = await freeLoopbackPort();
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
try {
  const [, coldNewDbMs] = await timed(() => ensureDevServer({ home, port, headless: true }));
  const [, reuseMs] = await timed(() => ensureDevServer({ home, port, headless: true }));
  const [, stopMs] = await timed(() => stopDevServer(home));
  const [, coldExistingDbMs] = await timed(() => ensureDevServer({ home, port, headless: true }));
  const [, orchestratorWorkerReadyMs] = await timed(() =>
    ensureEmbeddedWorkers({
      home,
      env: { ...env, LIFEBOAT_HOME: home, LIFEBOAT_TEMPORAL_PORT: String(port) },
    }),
  );
  const [, workerStopMs] = await timed(() => stopEmbeddedWorkers(home));
  const figures = { coldNewDbMs, reuseMs, stopMs, coldExistingDbMs, orchestratorWorkerReadyMs, workerStopMs };
  mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    path.join(REPO_ROOT, 'bench', 'results', 'platform.json'),
    `${JSON.stringify({ measuredAt: new Date().toISOString(), ...figures }, null, 2)}\n`,
  );
  console.log(figures);
} finally {
  await stopEmbeddedWorkers(home);
  await stopDevServer(home);
  rmSync(home, { recursive: true, force: true });
}
