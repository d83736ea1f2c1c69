/**
 * Thawing a guest after fsfreeze, until it is thawed or known to stay frozen. A frozen guest
 * blocks every write of the VM's applications, so a failed thaw is retried with backoff for a
 * bounded time, the guest agent is asked whether the filesystems are still frozen between
 * attempts, and a guest still frozen at the end is reported (never ignored): the caller
 * raises the metric, logs it and records it in the export.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export type FreezeStatus = 'thawed' | 'frozen' | 'unknown';

export interface ThawSteps {
  /** One `domfsthaw`. */
  thaw(): Promise<{ exitCode: number; stderr: string }>;
  /** `guest-fsfreeze-status` through the agent; 'unknown' when the agent does not answer. */
  status(): Promise<FreezeStatus>;
  heartbeat?: () => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface ThawOutcome {
  thawed: boolean;
  attempts: number;
  /** When not thawed: the last error and what the agent last said. */
  detail?: string;
}

/** Waits between attempts: 0.25 s doubling to 8 s, about two minutes in all. */
export const THAW_DELAYS_MS = [
  250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000,
  8_000, 8_000,
];

export async function thawUntilThawed(
  steps: ThawSteps,
  delaysMs: readonly number[] = THAW_DELAYS_MS,
): Promise<ThawOutcome> {
  const wait = steps.sleep ?? ((ms: number) => sleep(ms));
  let lastError = '';
  let lastStatus: FreezeStatus = 'unknown';
  for (let attempt = 1; ; attempt++) {
    steps.heartbeat?.();
    const r = await steps.thaw();
    if (r.exitCode === 0) return { thawed: true, attempts: attempt };
    lastError = r.stderr.trim();
    // A thaw can fail because the guest already thawed (the agent timed out on the answer).
    lastStatus = await steps.status();
    if (lastStatus === 'thawed') return { thawed: true, attempts: attempt };
    const delay = delaysMs[attempt - 1];
    if (delay === undefined) {
      return {
        thawed: false,
        attempts: attempt,
        detail: `guest filesystems may still be frozen after ${attempt} thaw attempts (agent status: ${lastStatus}; last error: ${lastError || 'none'})`,
      };
    }
    await wait(delay);
  }
}
