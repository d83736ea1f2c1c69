import type { Client } from '@temporalio/client';
import { connectClient } from '../platform/connection.ts';
import { PlatformError } from '../platform/errors.ts';
import { ExitCode } from './exit-codes.ts';

/**
 * Runs a command's body with a Temporal client and closes the connection after it. A server
 * that cannot be reached is reported in one line and exits `unavailable` (3), which scripts
 * tell apart from findings (1) and refusals (4).
 */
export async function withTemporalClient(body: (client: Client) => Promise<void>): Promise<void> {
  let connection: Awaited<ReturnType<typeof connectClient>>['connection'] | undefined;
  try {
    const connected = await connectClient();
    connection = connected.connection;
    await body(connected.client);
  } catch (err) {
    if (!(err instanceof PlatformError)) throw err;
    process.stderr.write(`lifeboat: ${err.describe()}\n`);
    process.exitCode = ExitCode.unavailable;
  } finally {
    await connection?.close();
  }
}
