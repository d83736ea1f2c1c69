/**
 * Where a domain's current run begins in its serial log. A log appended across boots still holds
 * the ready lines of earlier runs, so a check must read only what came after this start. The
 * offset is kept in the domain's own metadata: written to the persistent definition just before
 * `virsh start` (so the live domain inherits it), read from the live domain by the check. It
 * lives and dies with the run, and a retried start or check after a worker crash still finds it.
 */
import { VmNotFoundError } from '../errors.ts';
import { classifyVirshError } from './classify.ts';
import type { Virsh } from './virsh.ts';

/** Lifeboat's metadata namespace for the serial run offset (any stable URI will do). */
export const SERIAL_RUN_NS = 'https://lifeboat.dev/xmlns/serial-run/1';

/** The metadata element; the offset is an integer we computed, never runbook input. */
export function serialRunElement(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad serial offset ${offset}`);
  return `<run serialOffset="${offset}"/>`;
}

/** Reads the offset back out of `virsh metadata` output (the element, perhaps namespaced). */
export function parseSerialRunElement(xml: string): number | undefined {
  const m = /\bserialOffset="(\d+)"/.exec(xml);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Records `offset` in the persistent definition, for the start that follows. */
export async function recordSerialRunOffset(virsh: Virsh, vm: string, offset: number): Promise<void> {
  await virsh.run(
    [
      'metadata',
      '--domain',
      vm,
      '--uri',
      SERIAL_RUN_NS,
      '--key',
      'lifeboat',
      '--set',
      serialRunElement(offset),
      '--config',
    ],
    { vm },
  );
}

/**
 * Drops the offset from the persistent definition once the live domain carries it, so a later
 * start outside Lifeboat does not inherit a stale one. Best effort: a leftover is overwritten by
 * the next start through the driver.
 */
export async function clearConfigSerialRunOffset(virsh: Virsh, vm: string): Promise<void> {
  await virsh.tryRun(['metadata', '--domain', vm, '--uri', SERIAL_RUN_NS, '--remove', '--config'], { vm });
}

/** The live domain's offset; undefined when not recorded or the domain is not running. */
export async function readSerialRunOffset(virsh: Virsh, vm: string): Promise<number | undefined> {
  const res = await virsh.tryRun(['metadata', '--domain', vm, '--uri', SERIAL_RUN_NS, '--live'], { vm });
  if (res.code === 0) return parseSerialRunElement(res.stdout);
  const err = classifyVirshError(res.stderr, { site: virsh.opts.site, vm });
  if (err instanceof VmNotFoundError) throw err;
  // "metadata not found", "domain is not running": nothing recorded for a current run.
  return undefined;
}
