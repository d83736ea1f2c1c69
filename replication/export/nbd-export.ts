/**
 * The primary's side of an NBD full copy (replication/transfer/nbd.ts): one
 * qemu-storage-daemon per transfer serving the stopped VM's disks read-only on the site's
 * transfer address, TLS with the transfer's pre-shared key. It outlives the activity that
 * started it (the secondary pulls after that activity returned) and is stopped by the cycle's
 * cleanup, by the next attempt of the same export, or by the VM's next export, always by the pid
 * file in the export directory and only after /proc says that pid is this daemon.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../platform/free-port.ts';
import { livePidFromFile, stopPid } from '../../platform/processes.ts';
import { imageOptValue as opt } from '../chain.ts';
import { runProcess } from '../exec.ts';
import { type NbdAddress, writePskDir } from '../transfer/nbd.ts';
import { ExportError } from './errors.ts';
import { BACKUP_DAEMON_PID_FILE } from './offline.ts';

const PID_FILE = 'nbd.pid';
const PSK_DIR = 'nbd-psk';

export interface NbdDisk {
  /** The export's name: the disk's target. */
  name: string;
  source: string;
  format: string;
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
  await writePskDir(pskDir, psk);
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(host);
    const r = await runProcess(
      'qemu-storage-daemon',
      [
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
      ],
      { timeoutMs: 60_000 },
    );
    if (r.exitCode === 0) return { host, port };
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

/** Stops the daemon `pidFile` names if it still runs (a pid reused by another process is left alone). */
async function stopByPidFile(pidFile: string): Promise<boolean> {
  // The daemon's command line names its pid file, which names its export.
  const pid = livePidFromFile(pidFile, pidFile);
  const stopped = pid !== undefined && (await stopPid(pid, { graceMs: 5_000 }));
  await rm(pidFile, { force: true });
  return stopped;
}

/** Stops `dir`'s daemon if it still runs. */
export async function stopNbdExport(dir: string): Promise<boolean> {
  const stopped = await stopByPidFile(join(dir, PID_FILE));
  await rm(join(dir, PSK_DIR), { recursive: true, force: true });
  return stopped;
}

/**
 * Stops every daemon a VM's earlier exports left running (their cleanup never ran, or their
 * worker was killed mid-backup): NBD servers and the backup's storage daemons, which hold the
 * disks open.
 */
export async function stopLeftoverExportDaemons(vmExportDir: string): Promise<void> {
  const names = await readdir(vmExportDir).catch(() => [] as string[]);
  await Promise.all(
    names.flatMap((n) => [
      stopNbdExport(join(vmExportDir, n)),
      stopByPidFile(join(vmExportDir, n, BACKUP_DAEMON_PID_FILE)),
    ]),
  );
}
