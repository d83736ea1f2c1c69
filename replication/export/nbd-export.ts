/**
 * The primary's side of an NBD full copy (replication/transfer/nbd.ts): one
 * qemu-storage-daemon per transfer serving the stopped VM's disks read-only on the site's
 * transfer address, TLS with the transfer's pre-shared key. It outlives the activity that
 * started it (the secondary pulls after that activity returned) and is stopped by the cycle's
 * cleanup, by the next attempt of the same export, or by the VM's next export, always by the pid
 * file in the export directory and only after /proc says that pid is this daemon.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type NbdAddress, pskFileText } from '../transfer/nbd.ts';
import { ExportError } from './errors.ts';

const PID_FILE = 'nbd.pid';
const PSK_DIR = 'nbd-psk';

export interface NbdDisk {
  /** The export's name: the disk's target. */
  name: string;
  source: string;
  format: string;
}

/** A port free on `host` now (the daemon binds it next; a lost race is retried). */
async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** image-opts values escape commas by doubling them. */
function opt(v: string): string {
  return v.replaceAll(',', ',,');
}

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-storage-daemon', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      if (stderr.length < 4000) stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

/**
 * Serves `disks` from `dir`'s daemon (any earlier one of `dir` stopped first) under `psk`.
 * Returns once the daemon listens (`--daemonize` returns then).
 */
export async function startNbdExport(
  dir: string,
  host: string,
  disks: readonly NbdDisk[],
  psk: string,
): Promise<NbdAddress> {
  await stopNbdExport(dir);
  const pskDir = join(dir, PSK_DIR);
  await mkdir(pskDir, { recursive: true, mode: 0o700 });
  await writeFile(join(pskDir, 'keys.psk'), pskFileText(psk), { mode: 0o600 });
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(host);
    const r = await run([
      '--daemonize',
      '--pidfile',
      join(dir, PID_FILE),
      '--object',
      // AES-GCM, not gnutls' pick here (ChaCha20: 3 s of CPU per GiB at each end, AES-GCM 1 s).
      `tls-creds-psk,id=tls0,endpoint=server,dir=${opt(pskDir)},priority=NORMAL:-CHACHA20-POLY1305`,
      ...disks.flatMap((d, n) => [
        '--blockdev',
        `driver=${d.format},node-name=n${n},read-only=on,file.driver=file,file.filename=${opt(d.source)}`,
      ]),
      '--nbd-server',
      `addr.type=inet,addr.host=${host},addr.port=${port},tls-creds=tls0,max-connections=16`,
      ...disks.flatMap((d, n) => [
        '--export',
        `type=nbd,id=e${n},node-name=n${n},name=${d.name},writable=off`,
      ]),
    ]);
    if (r.code === 0) return { host, port };
    last = r.stderr.trim();
    if (!/in use|Failed to bind/i.test(last)) break;
  }
  throw new ExportError({
    code: 'BACKUP_FAILED',
    message: `qemu-storage-daemon could not serve the disks over NBD: ${last}`,
    context: { dir, disks: disks.map((d) => d.name) },
    hint: 'is the VM really stopped (the images not locked) and qemu-storage-daemon installed?',
    retryable: true,
  });
}

/** Running, not a zombie (a daemonized process is reaped by whoever adopted it, maybe never). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z' && state !== 'X';
}

/** Stops `dir`'s daemon if it still runs (a pid reused by another process is left alone). */
export async function stopNbdExport(dir: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(join(dir, PID_FILE), 'utf8')).trim(), 10);
  } catch {
    return false;
  }
  let stopped = false;
  if (Number.isInteger(pid) && pid > 1) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('qemu-storage-daemon\0') && cmdline.includes(join(dir, PID_FILE))) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && (await alive(pid)); i++) await sleep(50);
      if (await alive(pid)) process.kill(pid, 'SIGKILL');
      stopped = true;
    }
  }
  await rm(join(dir, PID_FILE), { force: true });
  await rm(join(dir, PSK_DIR), { recursive: true, force: true });
  return stopped;
}

/** Stops every daemon a VM's earlier exports left serving (their cleanup never ran). */
export async function stopLeftoverNbdExports(vmExportDir: string): Promise<void> {
  const names = await readdir(vmExportDir).catch(() => [] as string[]);
  await Promise.all(names.map((n) => stopNbdExport(join(vmExportDir, n))));
}
