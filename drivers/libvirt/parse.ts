/** Parsers for virsh's human-readable outputs (those without a JSON or XML form). Pure. */
import type { VmState } from '../types.ts';

/** `Key:   value` lines (dominfo, net-info, nodeinfo) -> a map keyed by the lower-cased key. */
export function parseKeyValues(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    m.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return m;
}

/** virsh state words -> the driver's VmState. */
export function toVmState(word: string): VmState {
  switch (word.trim().toLowerCase()) {
    case 'running':
    case 'idle':
    case 'blocked':
      return 'running';
    case 'paused':
    case 'pmsuspended':
      return 'paused';
    case 'shut off':
      return 'shut off';
    case 'crashed':
      return 'crashed';
    default:
      return 'other';
  }
}

/** `virsh list --name` and friends: one name per line, blank lines dropped. */
export function parseNameList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** `virsh nodememstats`: `free   :  123456 KiB` -> bytes by key. */
export function parseMemStats(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of out.split('\n')) {
    const match = /^\s*([\w ]+?)\s*:\s*(\d+)\s*KiB/i.exec(line);
    if (match?.[1] && match[2]) m.set(match[1].toLowerCase(), Number(match[2]) * 1024);
  }
  return m;
}

export function yes(v: string | undefined): boolean {
  return v === 'yes' || v === 'enable' || v === 'enabled';
}
