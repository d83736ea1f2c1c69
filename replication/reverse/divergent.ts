/**
 * The old primary's divergent blocks: what it wrote after the common point, saved by reprotect
 * before overwriting them (`<storage>/divergent/<runbook>/<vm>/<operation>/`, a delta: see
 * delta.ts). They stay until an operator discards them with a reason; every discard is
 * appended to `<storage>/divergent/<runbook>/discarded.jsonl` (who, why, when, what).
 */
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, fsyncFile } from '../fsutil.ts';
import { assertSafeName } from '../manifest.ts';
import { readDeltaIndex } from './delta.ts';

export interface DivergentEntry {
  vm: string;
  /** The reprotect that saved them. */
  operationId: string;
  pointId: string | null;
  createdAt: string;
  dir: string;
  bytes: number;
  disks: Array<{ target: string; bytes: number; extents: number }>;
}

export interface DiscardRecord {
  at: string;
  by: string;
  reason: string;
  removed: Array<Pick<DivergentEntry, 'vm' | 'operationId' | 'bytes' | 'dir'>>;
}

function runbookDir(storage: string, runbook: string): string {
  return join(storage, 'divergent', assertSafeName('runbook', runbook));
}

async function dirs(path: string): Promise<string[]> {
  if (!(await exists(path))) return [];
  return (await readdir(path, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/** Every complete side file of the runbook at this site (an incomplete one has no index). */
export async function listDivergent(storage: string, runbook: string): Promise<DivergentEntry[]> {
  const root = runbookDir(storage, runbook);
  const out: DivergentEntry[] = [];
  for (const vm of await dirs(root)) {
    for (const op of await dirs(join(root, vm))) {
      const dir = join(root, vm, op);
      const index = await readDeltaIndex(dir).catch(() => null);
      if (index === null) continue;
      out.push({
        vm,
        operationId: index.operationId,
        pointId: index.pointId,
        createdAt: index.createdAt,
        dir,
        bytes: index.disks.reduce((n, d) => n + d.bytes, 0),
        disks: index.disks.map((d) => ({ target: d.target, bytes: d.bytes, extents: d.extents.length })),
      });
    }
  }
  return out;
}

/** Removes every side file of the runbook, after appending who, why and what to the log. */
export async function discardDivergent(
  storage: string,
  runbook: string,
  d: { by: string; reason: string },
): Promise<DiscardRecord> {
  if (d.reason.trim() === '') throw new Error('discarding divergent blocks needs a reason');
  const entries = await listDivergent(storage, runbook);
  const record: DiscardRecord = {
    at: new Date().toISOString(),
    by: d.by,
    reason: d.reason,
    removed: entries.map((e) => ({ vm: e.vm, operationId: e.operationId, bytes: e.bytes, dir: e.dir })),
  };
  const root = runbookDir(storage, runbook);
  await mkdir(root, { recursive: true });
  // Recorded before anything is removed: a crash in between leaves the record and a retry removes.
  const log = join(root, 'discarded.jsonl');
  await appendFile(log, `${JSON.stringify(record)}\n`);
  await fsyncFile(log);
  for (const e of entries) await rm(e.dir, { recursive: true, force: true });
  return record;
}

/** The discard log, oldest first. */
export async function discardLog(storage: string, runbook: string): Promise<DiscardRecord[]> {
  const log = join(runbookDir(storage, runbook), 'discarded.jsonl');
  if (!(await exists(log))) return [];
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as DiscardRecord);
}
