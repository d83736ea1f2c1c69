/**
 * A full copy of a stopped disk streamed over NBD with TLS-PSK: the primary serves the disk
 * read-only (replication/export/nbd-export.ts), the secondary's `qemu-img convert` writes it straight
 * into its staged image. No staged copy at the primary, no second read there, zeros sent as
 * holes. The pre-shared key is derived per registration from the transfer key both sites hold
 * (the payload names only the site, transfer id and nonce), so only this transfer's puller can
 * finish the TLS handshake with this export.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createImage, imageOptValue as opt } from '../chain.ts';
import { ReplicationError } from '../errors.ts';
import { exists, writeFileAtomic } from '../fsutil.ts';
import { TRANSFER_KEY_BYTES, type TransferGrant } from './protocol.ts';

/** The PSK identity both ends use (the key, not the name, is per transfer). */
export const NBD_PSK_IDENTITY = 'lifeboat';

/** Where a primary serves a transfer's disks over NBD (not secret: the key is derived). */
export interface NbdAddress {
  host: string;
  port: number;
}

/** The transfer's pre-shared key (hex, 256 bits): HMAC-SHA256 under the transfer key. */
export function nbdPsk(key: Buffer, grant: TransferGrant): string {
  if (key.length < TRANSFER_KEY_BYTES) throw new Error('transfer key is shorter than 32 bytes');
  return createHmac('sha256', key)
    .update(`lifeboat/nbd-psk/v1\0${grant.site}\0${grant.transferId}\0${grant.nonce}`)
    .digest('hex');
}

/** gnutls' PSK file: `identity:hexkey` per line. */
export function pskFileText(psk: string): string {
  return `${NBD_PSK_IDENTITY}:${psk}\n`;
}

/** Writes gnutls' PSK directory for qemu's `tls-creds-psk` (`dir/keys.psk`), private to this user. */
export async function writePskDir(dir: string, psk: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'keys.psk'), pskFileText(psk), { mode: 0o600 });
}

/** An IP address or host name a URI can carry as it is (no user, path or query characters). */
export function nbdHostProblem(host: string): string | null {
  return /^[A-Za-z0-9.-]{1,253}$/.test(host) || /^\[?[0-9A-Fa-f:.]+\]?$/.test(host)
    ? null
    : `NBD host ${JSON.stringify(host)} is not an address`;
}

export interface NbdPullInput {
  address: NbdAddress;
  exportName: string;
  psk: string;
  /** The staged qcow2 written (created anew, so a restart never keeps a stale cluster). */
  dest: string;
  virtualSize: number;
  /** No byte written for this long: the copy is killed and started again (a cut link). */
  idleTimeoutMs: number;
  /** Copies started again before giving up (the activity's own retries come after). */
  maxRestarts?: number;
  backoff?: { initialMs: number; maxMs: number };
  signal?: AbortSignal;
  onProgress?: (p: { allocatedBytes: number }) => void;
}

/**
 * Copies one NBD export into `dest` with `qemu-img convert -n -W` (NBD client and qcow2 writer in
 * one process: measured here twice as fast as nbdcopy into a qemu-nbd). A copy that fails or
 * stalls is started over from the beginning (NBD has no resume; the commit's content digest
 * checks the result either way). The copy dies with this process (`setpriv --pdeathsig`).
 * Returns how many times it started over.
 */
export async function pullNbd(i: NbdPullInput): Promise<{ restarts: number }> {
  // qemu's TLS credentials read `keys.psk` from a directory: private to this worker, and inside
  // the staging directory only while the copy runs (a retried pull makes it again).
  const pskDir = `${i.dest}.psk`;
  const maxRestarts = i.maxRestarts ?? 100;
  const backoff = i.backoff ?? { initialMs: 500, maxMs: 5_000 };
  let delay = backoff.initialMs;
  let restarts = 0;
  await rm(pskDir, { recursive: true, force: true });
  await writePskDir(pskDir, i.psk);
  try {
    for (;;) {
      await createImage(i.dest, i.virtualSize);
      const r = await copyOnce(i, pskDir);
      if (r.ok) return { restarts };
      if (i.signal?.aborted) throw i.signal.reason ?? new Error('aborted');
      if (restarts >= maxRestarts) {
        throw new ReplicationError({
          code: 'TRANSFER_GAVE_UP',
          message: `NBD copy of ${i.exportName} from ${i.address.host}:${i.address.port} failed ${restarts + 1} times: ${r.why}`,
          context: { export: i.exportName, host: i.address.host, port: i.address.port },
          hint: 'is the inter-site link up and the primary serving? the activity retries',
          retryable: true,
        });
      }
      restarts++;
      await sleep(delay, undefined, i.signal ? { signal: i.signal } : {});
      delay = Math.min(backoff.maxMs, delay * 2);
    }
  } finally {
    await rm(pskDir, { recursive: true, force: true });
  }
}

async function copyOnce(i: NbdPullInput, pskDir: string): Promise<{ ok: true } | { ok: false; why: string }> {
  const host = i.address.host.replace(/^\[(.*)\]$/, '$1');
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      '--',
      'qemu-img',
      'convert',
      '-n',
      // The image was just created: holes need no zeroes written (half the time here).
      '--target-is-zero',
      '-W',
      '-m',
      '8',
      '-O',
      'qcow2',
      '--object',
      `tls-creds-psk,id=tls0,endpoint=client,dir=${opt(pskDir)},username=${NBD_PSK_IDENTITY}`,
      '--image-opts',
      `driver=nbd,host=${opt(host)},port=${i.address.port},export=${opt(i.exportName)},tls-creds=tls0`,
      i.dest,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  let killedFor: string | null = null;
  const kill = (why: string) => {
    killedFor ??= why;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onAbort = () => kill('cancelled');
  i.signal?.addEventListener('abort', onAbort, { once: true });
  // The staged image's growth says the copy still moves (a cut link stalls it silently).
  let allocated = 0;
  let lastChange = Date.now();
  const watch = setInterval(() => {
    stat(i.dest)
      .then((s) => {
        if (s.blocks * 512 !== allocated) {
          allocated = s.blocks * 512;
          lastChange = Date.now();
        }
        i.onProgress?.({ allocatedBytes: allocated });
        if (Date.now() - lastChange > i.idleTimeoutMs) kill(`no progress for ${i.idleTimeoutMs} ms`);
      })
      .catch(() => undefined);
  }, 500);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? -1));
    });
    if (code === 0 && killedFor === null) return { ok: true };
    return { ok: false, why: killedFor ?? `qemu-img convert exited ${code}: ${stderr.trim()}` };
  } catch (e) {
    throw new ReplicationError({
      code: 'PROCESS_FAILED',
      message: `qemu-img could not run: ${String(e)}`,
      context: { export: i.exportName },
      hint: 'install qemu-utils and util-linux (setpriv)',
      cause: e,
    });
  } finally {
    clearInterval(watch);
    i.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Streams each disk served over NBD into `<dir>/<file>`, one after another. A disk whose copy
 * finished is not taken again by a retried attempt (its `.<file>.streamed` marker is
 * bookkeeping, removed when the point is published). Returns the data bytes streamed (as the
 * primary read them) and the copies started over.
 */
export async function streamNbdDisks(i: {
  address: NbdAddress;
  psk: string;
  disks: ReadonlyArray<{ target: string; file: string; size: number; virtualSize?: number }>;
  dir: string;
  idleTimeoutMs: number;
  onProgress?: (p: { bytesReceived: number; file: string }) => void;
  signal?: AbortSignal;
}): Promise<{ bytes: number; restarts: number }> {
  let bytes = 0;
  let restarts = 0;
  for (const d of i.disks) {
    const done = join(i.dir, `.${d.file}.streamed`);
    if (!(await exists(done))) {
      const r = await pullNbd({
        address: i.address,
        exportName: d.target,
        psk: i.psk,
        dest: join(i.dir, d.file),
        virtualSize: d.virtualSize ?? 0,
        idleTimeoutMs: i.idleTimeoutMs,
        onProgress: (p) => i.onProgress?.({ bytesReceived: bytes + p.allocatedBytes, file: d.file }),
        ...(i.signal === undefined ? {} : { signal: i.signal }),
      });
      restarts += r.restarts;
      await writeFileAtomic(done, '');
    }
    bytes += d.size;
  }
  return { bytes, restarts };
}
