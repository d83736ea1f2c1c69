/**
 * The graceful-shutdown sequence, apart from how each step is carried out: the guest agent
 * (clean, the guest syncs), then ACPI, then a forced stop once the deadline has passed. The
 * agent gets at most half of the deadline so ACPI still has a chance.
 */
import type { ShutdownMethod, VmState } from '../types.ts';

const STATE_POLL_MS = 250;

export interface ShutdownSteps {
  state(name: string): Promise<VmState | 'missing'>;
  /** Asks the guest to power off; 'refused' when that way is unavailable. */
  request(
    name: string,
    mode: 'agent' | 'acpi',
    timeoutMs: number,
  ): Promise<'asked' | 'refused' | 'not-running'>;
  destroy(name: string): Promise<unknown>;
}

// A transient domain stops existing when it powers off.
const isOff = (s: VmState | 'missing') => s === 'shut off' || s === 'missing' || s === 'crashed';

async function waitOff(steps: ShutdownSteps, name: string, until: number): Promise<boolean> {
  for (;;) {
    if (isOff(await steps.state(name))) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, Math.min(STATE_POLL_MS, Math.max(1, until - Date.now()))));
  }
}

const requestTimeout = (ms: number) => Math.max(2000, Math.min(10_000, ms));

export async function gracefulShutdown(
  steps: ShutdownSteps,
  name: string,
  state: VmState | 'missing',
  deadlineMs: number,
): Promise<{ method: ShutdownMethod }> {
  if (isOff(state)) return { method: 'already-off' };
  const start = Date.now();
  const deadline = start + deadlineMs;
  let lastAsked: ShutdownMethod | undefined;
  // A paused guest cannot act on a request: straight to the forced stop.
  if (state === 'running') {
    const agent = await steps.request(name, 'agent', requestTimeout(deadlineMs));
    if (agent === 'not-running') return { method: 'already-off' };
    if (agent === 'asked') {
      lastAsked = 'agent';
      if (await waitOff(steps, name, start + Math.floor(deadlineMs / 2))) return { method: 'agent' };
    }
    if (Date.now() < deadline) {
      const acpi = await steps.request(name, 'acpi', requestTimeout(deadline - Date.now()));
      if (acpi === 'asked') {
        lastAsked = 'acpi';
        if (await waitOff(steps, name, deadline)) return { method: 'acpi' };
      }
    }
  }
  // It went off between the last poll and now: credit whichever request was made last.
  if (lastAsked && isOff(await steps.state(name))) return { method: lastAsked };
  await steps.destroy(name);
  return { method: 'forced' };
}
