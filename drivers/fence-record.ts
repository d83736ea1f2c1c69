/**
 * A site's own record of a fence: which runbook's VMs must not run here, by whose word, and how
 * to lift it. One JSON file per runbook, `<storage>/fences/<runbook>.json`, written atomically
 * (fsynced, renamed) so it survives the worker and the host; a lifted fence is moved to
 * `<storage>/fences/lifted/<runbook>-<time>.json` with who lifted it and why. The driver reads
 * it before every start (drivers/libvirt/driver.ts) and refuses a fenced VM.
 *
 * Format (version 1), kept small on purpose so a per-site DR-state record can fold it in:
 *   { version: 1, runbook, site, vms: [name...], operationId, by, reason, at,
 *     autostartOn?: [name...], lifted?: { by, reason, at, operationId } }
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../replication/fsutil.ts';
import { assertSafeName } from './names.ts';

export interface FenceRecord {
  version: 1;
  runbook: string;
  /** The site's own name. */
  site: string;
  vms: string[];
  /** The operation that fenced the site (a disaster failover). */
  operationId: string;
  /** Who acknowledged the fence, and why. */
  by: string;
  reason: string;
  at: string;
  /**
   * The fenced VMs whose autostart was on before the fence turned it off, read before anything
   * was touched: the failover that fenced the site turns it back on when it rolls back.
   */
  autostartOn?: string[];
  lifted?: { by: string; reason: string; at: string; operationId: string };
}

export function fenceDir(storage: string): string {
  return join(storage, 'fences');
}

function fenceFile(storage: string, runbook: string, site: string): string {
  assertSafeName(runbook, 'runbook name', site);
  return join(fenceDir(storage), `${runbook}.json`);
}

function isFenceRecord(v: unknown): v is FenceRecord {
  const r = v as Partial<FenceRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    r.version === 1 &&
    typeof r.runbook === 'string' &&
    Array.isArray(r.vms) &&
    typeof r.operationId === 'string'
  );
}

/** The runbook's standing fence at this site, or undefined. A damaged record is an error. */
export async function readFence(
  storage: string,
  runbook: string,
  site: string,
): Promise<FenceRecord | undefined> {
  const file = fenceFile(storage, runbook, site);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed: unknown = JSON.parse(text);
  if (!isFenceRecord(parsed)) throw new Error(`${file} is not a fence record (version 1)`);
  return parsed;
}

/** Every standing fence at this site. */
export async function listFences(storage: string, site: string): Promise<FenceRecord[]> {
  let names: string[];
  try {
    names = await readdir(fenceDir(storage));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: FenceRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const r = await readFence(storage, n.slice(0, -'.json'.length), site);
    if (r) out.push(r);
  }
  return out;
}

/** The fence that holds `vm` at this site, if any (the first, by runbook name). */
export async function fenceOfVm(storage: string, site: string, vm: string): Promise<FenceRecord | undefined> {
  return (await listFences(storage, site)).find((f) => f.vms.includes(vm));
}

/**
 * Writes the fence (idempotent: a record from the same operation is kept as it is, so a retry
 * does not move its time). Returns the standing record.
 */
export async function writeFence(
  storage: string,
  record: Omit<FenceRecord, 'version'>,
): Promise<FenceRecord> {
  const existing = await readFence(storage, record.runbook, record.site);
  if (existing && existing.operationId === record.operationId) return existing;
  const full: FenceRecord = { version: 1, ...record };
  await mkdir(fenceDir(storage), { recursive: true, mode: 0o700 });
  await writeFileAtomic(
    fenceFile(storage, record.runbook, record.site),
    `${JSON.stringify(full, null, 2)}\n`,
  );
  return full;
}

/**
 * Lifts the runbook's fence: the record, with who lifted it and why, moves to `lifted/`.
 * Returns the lifted record, or undefined when there was none (a retry after success).
 */
export async function liftFence(
  storage: string,
  runbook: string,
  site: string,
  lifted: NonNullable<FenceRecord['lifted']>,
): Promise<FenceRecord | undefined> {
  const existing = await readFence(storage, runbook, site);
  if (!existing) return undefined;
  const record: FenceRecord = { ...existing, lifted };
  const dir = join(fenceDir(storage), 'lifted');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stamp = lifted.at.replace(/[^0-9A-Za-z]/g, '');
  const kept = join(dir, `${runbook}-${stamp}.json`);
  await writeFileAtomic(kept, `${JSON.stringify(record, null, 2)}\n`);
  // The lifted copy is durable before the standing record goes: a crash between leaves it fenced.
  await rm(fenceFile(storage, runbook, site), { force: true });
  return record;
}

/** What the driver says when it refuses to start a fenced VM. */
export function fencedMessage(f: FenceRecord, vm: string): string {
  return (
    `VM '${vm}' is fenced at site '${f.site}' by ${f.operationId} (acknowledged by ${f.by}: ${f.reason}, ` +
    `since ${f.at}); it must not run here while the runbook runs elsewhere`
  );
}

export function unfenceHint(f: FenceRecord): string {
  return `lift it with \`lifeboat unfence ${f.runbook} --reason "..."\` (an operator with the role), or fail back`;
}
