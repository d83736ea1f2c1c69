import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { labPaths, MGMT_HOST_ADDRESS } from './config.ts';
import { LabError } from './errors.ts';
import { isRunning, procRef, stopProc } from './proc.ts';
import type { LabState } from './state.ts';

/** The Temporal server's port (it listens on 127.0.0.1 only). */
export function temporalPort(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env.LIFEBOAT_TEMPORAL_PORT ?? env.TEMPORAL_ADDRESS?.split(':').at(-1);
  const port = Number.parseInt(fromEnv ?? '7233', 10);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : 7233;
}

/** The address site workers use to reach Temporal: the relay on the management bridge. */
export function siteTemporalAddress(port: number = temporalPort()): string {
  return `${MGMT_HOST_ADDRESS}:${port}`;
}

/**
 * socat's arguments for the relay from `port` on the management address to the same port on
 * loopback. `nodelay` on both sockets: without it Nagle's algorithm held each small gRPC write
 * (an activity's completion, a poll) for the peer's delayed ACK, ~40 ms per site activity.
 */
export function relayArgs(port: number): string[] {
  return [
    `TCP-LISTEN:${port},bind=${MGMT_HOST_ADDRESS},reuseaddr,fork,nodelay`,
    `TCP:127.0.0.1:${port},nodelay`,
  ];
}

/**
 * A socat relay from the management address to the server on loopback, so the server never
 * listens beyond 127.0.0.1 and lab down/up never disturbs it.
 */
export async function ensureRelay(state: LabState, port: number, home?: string): Promise<void> {
  const listen = `${MGMT_HOST_ADDRESS}:${port}`;
  const target = `127.0.0.1:${port}`;
  const args = relayArgs(port);
  // A relay started with other arguments (one from before `nodelay`) is replaced.
  if (
    isRunning(state.relay) &&
    state.relay.listen === listen &&
    state.relay.args?.join(' ') === args.join(' ')
  )
    return;
  await stopProc(state.relay);
  const fd = openSync(labPaths(home).relayLog, 'a');
  const child = spawn('socat', args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  await sleep(100);
  const ref = child.pid === undefined ? undefined : procRef(child.pid, 'temporal relay (socat)');
  if (!ref) {
    throw new LabError(
      'COMMAND_FAILED',
      'the Temporal relay did not start',
      { listen },
      `see ${labPaths(home).relayLog}`,
    );
  }
  state.relay = { ...ref, listen, target, args };
}

export async function stopRelay(state: LabState): Promise<void> {
  await stopProc(state.relay);
  state.relay = undefined;
}
