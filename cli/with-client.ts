import type { Client, Connection } from '@temporalio/client';
import { connectClient, externalTargetFromEnv, resolveTemporalTarget } from '../platform/connection.ts';
import { devServerStatus } from '../platform/dev-server.ts';
import { ensureEmbeddedWorkers } from '../platform/embedded-workers.ts';
import { PlatformError } from '../platform/errors.ts';
import { lifeboatHome } from '../platform/home.ts';
import { ExitCode } from './exit-codes.ts';
import { RequestRefusedError } from './runbook-client.ts';

/**
 * A client for a command that talks to workflows. In embedded mode (no `TEMPORAL_ADDRESS`) it
 * first makes sure the dev server and the orchestrator worker run, and says so on stderr when it
 * had to start them, so `lifeboat drill` on a fresh laptop does not wait on a queue nobody polls.
 */
export async function connectForCommand(): Promise<{ client: Client; connection: Connection }> {
  const target = await resolveTemporalTarget();
  const connected = await connectClient(target);
  if (!target.embedded) return connected;
  try {
    if (target.startedNow) {
      const ui = target.uiUrl ? `, Web UI ${target.uiUrl}` : '';
      process.stderr.write(`lifeboat: started the embedded Temporal server at ${target.address}${ui}\n`);
    }
    const workers = await ensureEmbeddedWorkers({ client: connected.client });
    for (const w of workers.started)
      process.stderr.write(`lifeboat: started the ${w.name} worker (pid ${w.pid}, log ${w.logFile})\n`);
    return connected;
  } catch (err) {
    await connected.connection.close();
    throw err;
  }
}

/**
 * Runs a command's body with a Temporal client and closes the connection after it, mapping the
 * failures every command shares to stable exit codes: a refusal by the controller exits 4 when
 * another operation or the runbook's state stands in the way (1 otherwise) and names it; a server that cannot be reached exits `unavailable` (3).
 */
export async function withTemporalClient(
  body: (client: Client) => Promise<void>,
  opts: { json?: boolean } = {},
): Promise<void> {
  let connection: Connection | undefined;
  try {
    const connected = await connectForCommand();
    connection = connected.connection;
    await body(connected.client);
  } catch (err) {
    if (err instanceof RequestRefusedError) {
      const conflictsWith = err.details.conflictsWith as { id?: string; kind?: string } | undefined;
      if (opts.json)
        process.stdout.write(
          `${JSON.stringify({ refused: err.code, message: err.message, conflictsWith })}\n`,
        );
      process.stderr.write(
        `lifeboat: refused (${err.code}): ${err.message}${err.hint ? ` (${err.hint})` : ''}\n`,
      );
      process.exitCode =
        err.code === 'CONFLICT' || err.code === 'STATE' ? ExitCode.conflict : ExitCode.failed;
    } else if (err instanceof PlatformError) {
      process.stderr.write(`lifeboat: ${err.describe()}\n`);
      process.exitCode = ExitCode.unavailable;
    } else throw err;
  } finally {
    await connection?.close();
  }
}

/**
 * A client only when a server is already up: the configured cluster, or the embedded server when
 * it runs and answers. Never starts anything (a read like `report verify` must not bring up a
 * server); when none is reachable, says why instead.
 */
export async function connectIfReachable(): Promise<
  { client: Client; connection: Connection } | { unreachable: string }
> {
  let target = externalTargetFromEnv();
  if (!target) {
    const status = await devServerStatus(lifeboatHome());
    if (!status.healthy || !status.address || !status.namespace) {
      return { unreachable: 'no Temporal server is running (verify does not start one)' };
    }
    target = {
      address: status.address,
      namespace: status.namespace,
      tls: undefined,
      apiKey: undefined,
      embedded: true,
      uiUrl: status.uiUrl,
    };
  }
  try {
    const { client, connection } = await connectClient(target);
    return { client, connection };
  } catch (err) {
    return { unreachable: err instanceof Error ? err.message : String(err) };
  }
}
