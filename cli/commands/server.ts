import type { Command } from 'commander';
import { externalTargetFromEnv } from '../../platform/connection.ts';
import { devServerStatus, ensureDevServer, stopDevServer } from '../../platform/dev-server.ts';
import { embeddedWorkersStatus, stopEmbeddedWorkers } from '../../platform/embedded-workers.ts';
import { PlatformError } from '../../platform/errors.ts';
import { lifeboatHome } from '../../platform/home.ts';
import { ExitCode } from '../exit-codes.ts';

function out(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

function noteExternal(): boolean {
  const external = externalTargetFromEnv();
  if (!external) return false;
  process.stderr.write(
    `lifeboat: TEMPORAL_ADDRESS=${external.address} names a deployed cluster; the embedded server is not used\n`,
  );
  return true;
}

/** `lifeboat server start|stop|status`: the embedded Temporal dev server under the state directory. */
export function registerServer(program: Command): void {
  const server = program
    .command('server')
    .description('the embedded Temporal server (used when TEMPORAL_ADDRESS is unset)');

  server
    .command('start')
    .description('start the embedded server, or reuse it when it is up')
    .option('--json', 'machine-readable output')
    .action(async (flags: { json?: boolean }) => {
      if (noteExternal()) {
        process.exitCode = ExitCode.usage;
        return;
      }
      try {
        const info = await ensureDevServer({ home: lifeboatHome() });
        out(
          Boolean(flags.json),
          info,
          [
            `Temporal ${info.reused ? 'already running' : 'started'} at ${info.address} (pid ${info.pid}, namespace ${info.namespace})`,
            info.uiUrl ? `Web UI: ${info.uiUrl}` : 'Web UI: off (headless)',
            `database: ${info.dbFile}`,
            `log: ${info.logFile}`,
          ].join('\n'),
        );
      } catch (err) {
        if (!(err instanceof PlatformError)) throw err;
        process.stderr.write(`lifeboat: ${err.describe()}\n`);
        process.exitCode = ExitCode.unavailable;
      }
    });

  server
    .command('stop')
    .description('stop the embedded workers and the embedded server (by pid; the data stays)')
    .option('--json', 'machine-readable output')
    .action(async (flags: { json?: boolean }) => {
      const home = lifeboatHome();
      const workers = await stopEmbeddedWorkers(home);
      const stopped = await stopDevServer(home);
      out(
        Boolean(flags.json),
        { server: stopped, workers: workers.map((w) => ({ name: w.name, pid: w.pid })) },
        [
          ...workers.map((w) => `stopped worker ${w.name} (pid ${w.pid})`),
          stopped.stopped ? `stopped Temporal (pid ${stopped.pid})` : 'Temporal was not running',
        ].join('\n'),
      );
    });

  server
    .command('status')
    .description('is the embedded server up; exit code 3 when it is not')
    .option('--json', 'machine-readable output')
    .action(async (flags: { json?: boolean }) => {
      const home = lifeboatHome();
      const status = await devServerStatus(home);
      const workers = embeddedWorkersStatus(home);
      const lines = [
        status.running
          ? `Temporal ${status.healthy ? 'running' : 'NOT HEALTHY'} at ${status.address} (pid ${status.pid})`
          : 'Temporal is not running',
      ];
      if (status.uiUrl && status.running) lines.push(`Web UI: ${status.uiUrl}`);
      lines.push(`database: ${status.dbFile}`, `log: ${status.logFile}`);
      for (const w of workers)
        lines.push(`worker ${w.name}: ${w.pid ? `running (pid ${w.pid})` : 'stopped'}`);
      out(Boolean(flags.json), { ...status, workers }, lines.join('\n'));
      if (!status.healthy) process.exitCode = ExitCode.unavailable;
    });
}
