/**
 * What the secondary knows of the runbooks it protects, for RPO figures of VMs that have no
 * point yet: each protection run records its runbook's VMs, objective and when each VM was first
 * protected here (`<store>/.protection/<runbook>.json`, rewritten atomically; the store's
 * listings skip dot-names). Idempotent: a VM keeps the time it was first seen.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './fsutil.ts';
import { assertSafeName } from './manifest.ts';

export interface ProtectedRunbook {
  runbook: string;
  objectiveMs: number;
  /** VM name -> when protection of it started at this site (ISO). */
  vms: Record<string, string>;
}

const DIR = '.protection';

export async function recordProtected(
  storeRoot: string,
  input: { runbook: string; vms: string[]; objectiveMs: number },
  now = new Date(),
): Promise<ProtectedRunbook> {
  const dir = join(storeRoot, DIR);
  const file = join(dir, `${assertSafeName('runbook', input.runbook)}.json`);
  const prev = await readOne(file);
  const vms: Record<string, string> = {};
  for (const vm of input.vms) vms[assertSafeName('vm', vm)] = prev?.vms[vm] ?? now.toISOString();
  const next: ProtectedRunbook = { runbook: input.runbook, objectiveMs: input.objectiveMs, vms };
  if (JSON.stringify(next) !== JSON.stringify(prev)) {
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(file, `${JSON.stringify(next)}\n`);
  }
  return next;
}

async function readOne(file: string): Promise<ProtectedRunbook | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ProtectedRunbook;
  } catch {
    return null;
  }
}

/** Every runbook recorded at this store (an unreadable record is skipped). */
export async function readProtected(storeRoot: string): Promise<ProtectedRunbook[]> {
  let names: string[];
  try {
    names = await readdir(join(storeRoot, DIR));
  } catch {
    return [];
  }
  const out: ProtectedRunbook[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const r = await readOne(join(storeRoot, DIR, n));
    if (r) out.push(r);
  }
  return out;
}
