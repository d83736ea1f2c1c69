/**
 * The replica store at the secondary: `<root>/<vm>/points/<pointId>/` holds a committed
 * point's files and its `manifest.json`; `<root>/<vm>/points/.staging-<pointId>/` is where a
 * point's data lands before commit. A point becomes visible by ONE atomic rename of its staging
 * directory, after its data is fsynced, rebased onto relative paths, checked and digested and
 * its manifest is fsynced inside it. A worker killed at any moment leaves either a staging
 * directory (never listed; commit or abort finishes it) or a committed point.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeBlockDigests } from './block-digests.ts';
import { commitDisk } from './commit-disk.ts';
import { ReplicationError } from './errors.ts';
import { exists, fsyncDir, fsyncFile, sha256File, writeFileAtomic } from './fsutil.ts';
import {
  assertSafeName,
  type CapturedCommand,
  type Integrity,
  type Manifest,
  type ManifestDisk,
  parseManifest,
  serializeManifest,
} from './manifest.ts';
import { PhaseClock } from './phases.ts';

const MANIFEST = 'manifest.json';
const STAGING_PREFIX = '.staging-';
/** Present while a commit may have rewritten staged files: shipped digests are then stale. */
const COMMIT_JOURNAL = '.commit-started';

export interface CommitDiskInput {
  target: string;
  /** File name of the disk's top layer inside the staging directory. */
  image: string;
  parentPointId: string | null;
  fullReason?: string;
  /** Digest the transfer verified on arrival; saves rehashing when commit does not rewrite the file. */
  shipped?: { sha256: string; size: number };
  /** The primary's content digest root, when it computed one: commit refuses a different result. */
  expectedContentRoot?: string;
  /**
   * An empty layer this site made over the parent (nothing changed at the primary): already
   * backed by the parent, and its guest view is the parent's, so its content digest is too.
   */
  unchanged?: boolean;
  /** The caller has just set the layer's backing to the parent (saves a qemu-img info). */
  backingChecked?: boolean;
}

export interface CommitInput {
  vm: string;
  pointId: string;
  runbook: string;
  domainXml: string;
  /**
   * Boot files staged beside the disks; `sha256`, when given, is what they must hash to. One
   * `linkedFrom` a committed point is that point's file (a hard link): it takes that point's
   * recorded digest, as a cycle verifies only what it shipped.
   */
  bootFiles?: { role: string; path: string; sha256?: string; linkedFrom?: string }[];
  disks: CommitDiskInput[];
  consistency: Manifest['consistency'];
  sourceCheckpoint: string;
  times: Omit<Manifest['times'], 'committedAt'>;
  workload?: Record<string, unknown>;
  commands?: CapturedCommand[];
  guestFrozen?: string;
  bytesShipped: number;
}

export class ReplicaStore {
  // One worker process serves a site; this keeps a retried activity from racing its own
  // still-running first attempt on the same point.
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {}

  pointsDir(vm: string): string {
    return join(this.root, assertSafeName('vm', vm), 'points');
  }
  pointDir(vm: string, pointId: string): string {
    return join(this.pointsDir(vm), assertSafeName('point id', pointId));
  }
  stagingDir(vm: string, pointId: string): string {
    return join(this.pointsDir(vm), `${STAGING_PREFIX}${assertSafeName('point id', pointId)}`);
  }

  private async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  /**
   * Runs `fn` alone among the VM's whole-chain jobs of this process (retention, scrub), so a
   * scrub never reads a chain a retention is rewriting.
   */
  async exclusive<T>(vm: string, fn: () => Promise<T>): Promise<T> {
    return this.withLock(`chain:${assertSafeName('vm', vm)}`, fn);
  }

  /** Creates (or finds) the staging directory; says when the point is already committed. */
  async stage(vm: string, pointId: string): Promise<{ dir: string; committed: boolean }> {
    if ((await this.getPoint(vm, pointId)) !== null)
      return { dir: this.pointDir(vm, pointId), committed: true };
    const dir = this.stagingDir(vm, pointId);
    await mkdir(dir, { recursive: true });
    await fsyncDir(this.pointsDir(vm));
    return { dir, committed: false };
  }

  /**
   * The digest a boot file hard-linked from an older point has: that point's record, once the
   * size agrees; hashed afresh when the point or its record is gone.
   */
  private async linkedDigest(
    vm: string,
    path: string,
    b: { role: string; path: string; linkedFrom?: string },
  ): Promise<{ sha256: string; size: number }> {
    const from = b.linkedFrom === undefined ? null : await this.getPoint(vm, b.linkedFrom);
    const known = from?.domain.bootFiles.find((f) => f.role === b.role && f.path === b.path);
    if (known && (await stat(path)).size === known.size) return { sha256: known.sha256, size: known.size };
    return sha256File(path);
  }

  async getPoint(vm: string, pointId: string): Promise<Manifest | null> {
    const path = join(this.pointDir(vm, pointId), MANIFEST);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return parseManifest(text, path);
  }

  /** Committed points (oldest first) and the directories whose manifest cannot be read. */
  async scanPoints(
    vm: string,
  ): Promise<{ points: Manifest[]; damaged: { pointId: string; error: string }[] }> {
    let names: string[];
    try {
      names = await readdir(this.pointsDir(vm));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { points: [], damaged: [] };
      throw e;
    }
    const points: Manifest[] = [];
    const damaged: { pointId: string; error: string }[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      try {
        const m = await this.getPoint(vm, name);
        if (m === null) damaged.push({ pointId: name, error: 'no manifest' });
        else points.push(m);
      } catch (e) {
        damaged.push({ pointId: name, error: e instanceof Error ? e.message : String(e) });
      }
    }
    points.sort((a, b) =>
      a.times.committedAt === b.times.committedAt
        ? a.pointId.localeCompare(b.pointId)
        : a.times.committedAt < b.times.committedAt
          ? -1
          : 1,
    );
    return { points, damaged };
  }

  async listPoints(vm: string): Promise<Manifest[]> {
    return (await this.scanPoints(vm)).points;
  }

  /** The point the next incremental must start from (by commit time). */
  async newestCommitted(vm: string): Promise<Manifest | null> {
    const points = await this.listPoints(vm);
    return points[points.length - 1] ?? null;
  }

  /** Staging directories left behind (e.g. by a killed worker). */
  async listStaging(vm: string): Promise<string[]> {
    try {
      return (await readdir(this.pointsDir(vm)))
        .filter((n) => n.startsWith(STAGING_PREFIX))
        .map((n) => n.slice(STAGING_PREFIX.length));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async abort(vm: string, pointId: string): Promise<{ removed: boolean }> {
    return this.withLock(`${vm}/${pointId}`, async () => {
      const dir = this.stagingDir(vm, pointId);
      const had = await exists(dir);
      await rm(dir, { recursive: true, force: true });
      if (had) await fsyncDir(this.pointsDir(vm));
      return { removed: had };
    });
  }

  /** Rewrites the manifest's integrity atomically (used by the verification job). */
  async setIntegrity(vm: string, pointId: string, integrity: Integrity): Promise<Manifest> {
    return this.withLock(`${vm}/${pointId}`, async () => {
      const m = await this.getPoint(vm, pointId);
      if (m === null) {
        throw new ReplicationError({
          code: 'POINT_NOT_FOUND',
          message: `no committed point ${pointId} for ${vm}`,
          context: { vm, pointId, root: this.root },
          hint: 'list points with `lifeboat points`',
        });
      }
      const next: Manifest = { ...m, integrity };
      await writeFileAtomic(join(this.pointDir(vm, pointId), MANIFEST), serializeManifest(next));
      return next;
    });
  }

  /** Idempotent: committing a committed point returns it with `alreadyCommitted: true`. */
  async commit(
    input: CommitInput,
    clock = new PhaseClock(),
  ): Promise<{ manifest: Manifest; alreadyCommitted: boolean }> {
    return this.withLock(`${input.vm}/${input.pointId}`, () => this.commitLocked(input, clock));
  }

  private async commitLocked(
    input: CommitInput,
    clock: PhaseClock,
  ): Promise<{ manifest: Manifest; alreadyCommitted: boolean }> {
    const { vm, pointId } = input;
    const existing = await this.getPoint(vm, pointId);
    if (existing !== null) {
      await this.removeBookkeeping(this.pointDir(vm, pointId));
      if (existing.sourceCheckpoint !== input.sourceCheckpoint) {
        throw new ReplicationError({
          code: 'POINT_CONFLICT',
          message: `point ${pointId} of ${vm} is committed from checkpoint ${existing.sourceCheckpoint}, not ${input.sourceCheckpoint}`,
          context: { vm, pointId },
          hint: 'point ids must be unique per cycle',
        });
      }
      return { manifest: existing, alreadyCommitted: true };
    }
    const staging = this.stagingDir(vm, pointId);
    const journal = join(staging, COMMIT_JOURNAL);
    if (!(await exists(staging))) {
      throw new ReplicationError({
        code: 'STAGING_INCOMPLETE',
        message: `nothing staged for point ${pointId} of ${vm}`,
        context: { vm, pointId, staging },
        hint: 'the transfer must finish before commit; run it again',
        retryable: false,
      });
    }
    // A previous attempt may have rebased the files already, so their shipped digests are stale.
    const resumed = await exists(journal);
    if (!resumed) {
      await writeFile(journal, new Date().toISOString());
      await fsyncDir(staging);
    }

    const disks: ManifestDisk[] = [];
    for (const d of input.disks) disks.push(await commitDisk(this, input, d, staging, resumed, clock));
    const bootFiles: Manifest['domain']['bootFiles'] = [];
    for (const b of input.bootFiles ?? []) {
      const path = join(staging, assertSafeName('boot file', b.path));
      await fsyncFile(path);
      const digest =
        b.linkedFrom === undefined ? await sha256File(path) : await this.linkedDigest(vm, path, b);
      if (b.sha256 !== undefined && b.sha256 !== digest.sha256) {
        throw new ReplicationError({
          code: 'TRANSFER_INTEGRITY',
          message: `boot file ${b.path} of point ${pointId} has sha256 ${digest.sha256}, the primary read ${b.sha256}`,
          context: { vm, pointId, file: b.path },
          hint: 'abort the point; the next cycle ships the file again',
        });
      }
      bootFiles.push({
        role: b.role,
        path: b.path,
        ...digest,
        ...(b.linkedFrom === undefined ? {} : { linkedFrom: b.linkedFrom }),
      });
    }

    const manifest: Manifest = {
      apiVersion: 'lifeboat/v1',
      kind: 'RecoveryPoint',
      schemaVersion: 1,
      pointId,
      runbook: input.runbook,
      vm,
      domain: { xml: input.domainXml, bootFiles },
      disks,
      consistency: input.consistency,
      sourceCheckpoint: input.sourceCheckpoint,
      times: { ...input.times, committedAt: new Date().toISOString() },
      ...(input.workload === undefined ? {} : { workload: input.workload }),
      ...(input.commands === undefined ? {} : { commands: input.commands }),
      ...(input.guestFrozen === undefined ? {} : { guestFrozen: input.guestFrozen }),
      bytesShipped: input.bytesShipped,
      // A cycle checks what it shipped; the whole-point verification is a separate job.
      integrity: { state: 'not-yet' },
    };
    await writeFileAtomic(join(staging, MANIFEST), serializeManifest(manifest));

    // The publishing step: one rename makes data and manifest visible together.
    try {
      await rename(staging, this.pointDir(vm, pointId));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      const raced = await this.getPoint(vm, pointId);
      if (raced === null) throw e;
      return { manifest: raced, alreadyCommitted: true };
    }
    await fsyncDir(this.pointsDir(vm));
    await this.removeBookkeeping(this.pointDir(vm, pointId));
    return { manifest, alreadyCommitted: false };
  }

  /**
   * After publishing, the commit journal and the transfer's resume state (dot files) have no
   * use; a crash before this only leaves them behind, and nothing reads them.
   */
  private async removeBookkeeping(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      if (name.startsWith('.')) await rm(join(dir, name), { force: true });
    }
  }

  /** Absolute path of a disk's top layer in a committed point (open it to read the chain). */
  imagePath(m: Manifest, target: string): string | null {
    const d = m.disks.find((x) => x.target === target);
    return d === undefined ? null : join(this.pointDir(m.vm, m.pointId), d.image);
  }

  /** A committed disk's per-block digests: what a resync compares with the primary's. */
  async blockDigests(m: Manifest, target: string): Promise<Buffer[] | null> {
    const d = m.disks.find((x) => x.target === target);
    if (d === undefined) return null;
    return decodeBlockDigests(
      await readFile(join(this.pointDir(m.vm, m.pointId), d.contentDigest.blocksFile)),
    );
  }
}
