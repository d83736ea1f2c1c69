/**
 * A site's copy of each runbook's DR state: `<storage>/dr-state/<runbook>/v<version>.json`, one
 * file per version, written atomically (fsynced, renamed) and never rewritten, so the site keeps
 * the history of transitions it was told about. Each file is signed by the site that stored it
 * with HMAC-SHA256 under a key derived from the transfer key both sites hold (the key never
 * leaves the sites), so a record edited or planted in the store by hand does not verify, and
 * either site can check the other's.
 *
 * File format: { signed: { record: DrStateRecord, site, storedAt }, signature: "hmac-sha256:<hex>" }
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from '../approvals/payload.ts';
import { assertSafeName } from '../drivers/names.ts';
import { writeFileAtomic } from '../replication/fsutil.ts';
import { DR_STATE_FORMAT, type DrStateRecord, recordDigest, type SiteRecordAnswer } from './record.ts';

/** Versions a site keeps per runbook (older ones are removed as new ones arrive). */
export const VERSIONS_KEPT = 200;

const SIGNATURE_PREFIX = 'hmac-sha256:';

/** The key DR-state records are signed with, derived from the sites' shared transfer key. */
export function drStateKey(transferKey: Buffer): Buffer {
  return createHmac('sha256', transferKey).update('lifeboat dr-state record v1').digest();
}

interface SignedFile {
  signed: { record: DrStateRecord; site: string; storedAt: string };
  signature: string;
}

function sign(key: Buffer, signed: SignedFile['signed']): string {
  return SIGNATURE_PREFIX + createHmac('sha256', key).update(canonicalJson(signed)).digest('hex');
}

function verify(key: Buffer, file: SignedFile): boolean {
  const want = Buffer.from(sign(key, file.signed));
  const got = Buffer.from(String(file.signature));
  return want.length === got.length && timingSafeEqual(want, got);
}

function runbookDir(storage: string, runbook: string, site: string): string {
  assertSafeName(runbook, 'runbook name', site);
  return join(storage, 'dr-state', runbook);
}

const fileName = (version: number) => `v${String(version).padStart(10, '0')}.json`;

async function versions(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((n) => /^v(\d{10})\.json$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The newest record this site holds for `runbook`, checked against the sites' key. */
export async function readNewest(
  storage: string,
  site: string,
  key: Buffer,
  runbook: string,
): Promise<SiteRecordAnswer> {
  const dir = runbookDir(storage, runbook, site);
  const all = await versions(dir);
  const newest = all.at(-1);
  if (newest === undefined) return { site, status: 'none' };
  const path = join(dir, fileName(newest));
  let file: SignedFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as SignedFile;
  } catch (err) {
    return {
      site,
      status: 'unverified',
      path,
      problem: `unreadable: ${(err as Error).message}`,
      version: newest,
    };
  }
  if (!file?.signed?.record || typeof file.signature !== 'string' || !verify(key, file)) {
    return {
      site,
      status: 'unverified',
      path,
      problem: 'its signature does not match its content',
      version: newest,
    };
  }
  const r = file.signed.record;
  if (r.format !== DR_STATE_FORMAT || r.runbook !== runbook || r.version !== newest) {
    return {
      site,
      status: 'unverified',
      path,
      problem: `it is signed but names ${String(r.runbook)} version ${String(r.version)} (${String(r.format)})`,
      version: newest,
    };
  }
  return { site, status: 'found', record: r, signedBy: file.signed.site, path };
}

export type WriteOutcome =
  | { status: 'written' | 'already'; version: number; path: string }
  /** The site holds this version with other content, or a newer one: the writer is stale. */
  | { status: 'conflict'; version: number; held: number; heldDigest: string; path: string };

/**
 * Stores `record` unless the site already holds it (a retry: `already`) or holds a newer or a
 * different record of that version (`conflict`: a reset or second controller is writing).
 */
export async function writeRecord(
  storage: string,
  site: string,
  key: Buffer,
  record: DrStateRecord,
  now: Date = new Date(),
): Promise<WriteOutcome> {
  const dir = runbookDir(storage, record.runbook, site);
  await mkdir(dir, { recursive: true });
  const newest = await readNewest(storage, site, key, record.runbook);
  const path = join(dir, fileName(record.version));
  if (newest.status === 'found' && newest.record.version >= record.version) {
    const held = newest.record.version;
    if (held === record.version && recordDigest(newest.record) === recordDigest(record)) {
      return { status: 'already', version: record.version, path };
    }
    return {
      status: 'conflict',
      version: record.version,
      held,
      heldDigest: recordDigest(newest.record),
      path,
    };
  }
  const signed = { record, site, storedAt: now.toISOString() };
  await writeFileAtomic(path, `${JSON.stringify({ signed, signature: sign(key, signed) }, null, 2)}\n`);
  const all = await versions(dir);
  for (const v of all.slice(0, Math.max(0, all.length - VERSIONS_KEPT))) {
    await rm(join(dir, fileName(v)), { force: true });
  }
  return { status: 'written', version: record.version, path };
}
