import { type Command, InvalidArgumentError } from 'commander';
import { PlatformError } from '../../platform/errors.ts';
import { orchestratorWorker, siteWorker } from '../../worker/orchestrator.ts';
import { runWorkerProcess, type WorkerProcessOptions } from '../../worker/run.ts';
import { ExitCode } from '../exit-codes.ts';

interface WorkerFlags {
  metricsHost?: string;
  metricsPort?: number;
  sdkMetricsPort?: number;
  shutdownGrace?: number;
}

interface SiteFlags extends WorkerFlags {
  libvirtUri?: string;
  storage?: string;
  hooksDir?: string;
}

function port(value: string): number {
  const n = Number.parseInt(value, 10);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('a port number (0 picks a free one)');
  return n;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : port(v);
}

function addFlags(cmd: Command): Command {
  return cmd
    .option('--metrics-host <ip>', 'address for both metrics endpoints (env LIFEBOAT_METRICS_HOST)')
    .option(
      '--metrics-port <port>',
      "Lifeboat's /metrics port, 0 = free port (env LIFEBOAT_METRICS_PORT)",
      port,
    )
    .option(
      '--sdk-metrics-port <port>',
      "the SDK's Prometheus port, 0 = free port (env LIFEBOAT_SDK_METRICS_PORT)",
      port,
    )
    .option('--shutdown-grace <ms>', 'time in-flight activities get on SIGTERM', (v) => {
      const n = Number.parseInt(v, 10);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('milliseconds');
      return n;
    });
}

async function run(base: Omit<WorkerProcessOptions, 'metricsPort' | 'sdkMetricsPort'>, flags: WorkerFlags) {
  try {
    await runWorkerProcess({
      ...base,
      metricsHost: flags.metricsHost ?? process.env.LIFEBOAT_METRICS_HOST ?? '127.0.0.1',
      // Free ports by default: several workers share a laptop; deployments pin them.
      metricsPort: flags.metricsPort ?? envNumber('LIFEBOAT_METRICS_PORT') ?? 0,
      sdkMetricsPort: flags.sdkMetricsPort ?? envNumber('LIFEBOAT_SDK_METRICS_PORT') ?? 0,
      ...(flags.shutdownGrace !== undefined ? { shutdownGraceMs: flags.shutdownGrace } : {}),
    });
  } catch (err) {
    if (!(err instanceof PlatformError)) throw err;
    process.stderr.write(`lifeboat: ${err.describe()}\n`);
    process.exitCode = err.code === 'SERVER_UNREACHABLE' ? ExitCode.unavailable : ExitCode.failed;
  }
}

/** `lifeboat worker orchestrator|site <name>`: one worker process, until SIGTERM. */
export function registerWorker(program: Command): void {
  const worker = program.command('worker').description('run a Lifeboat worker process (until SIGTERM)');
  addFlags(
    worker.command('orchestrator').description('workflows and the activities that touch no site'),
  ).action(async (flags: WorkerFlags) => {
    await run(orchestratorWorker(), flags);
  });
  addFlags(
    worker
      .command('site')
      .argument('<name>', 'the site this worker serves (queue site-<name>)')
      .description("one site's activities: its hypervisor and storage")
      .option('--libvirt-uri <uri>', "the site's libvirt URI (env LIFEBOAT_SITE_URI)")
      .option('--storage <dir>', "the site's storage directory (env LIFEBOAT_SITE_STORAGE)")
      .option('--hooks-dir <dir>', 'where the scripts of `run` steps are (env LIFEBOAT_SITE_HOOKS)'),
  ).action(async (name: string, flags: SiteFlags) => {
    try {
      const config = {
        ...(flags.libvirtUri ? { uri: flags.libvirtUri } : {}),
        ...(flags.storage ? { storage: flags.storage } : {}),
        ...(flags.hooksDir ? { hooksDir: flags.hooksDir } : {}),
      };
      await run(await siteWorker(name, config), flags);
    } catch (err) {
      if (!(err instanceof PlatformError)) throw err;
      process.stderr.write(`lifeboat: ${err.describe()}\n`);
      process.exitCode = ExitCode.failed;
    }
  });
}
