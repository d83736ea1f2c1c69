import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNbdExport, stopNbdExport } from '../../../replication/export/nbd-export.ts';
import { nbdHostProblem, nbdPsk, pskFileText, pullNbd } from '../../../replication/transfer/nbd.ts';
import { transferToken } from '../../../replication/transfer/protocol.ts';

const pexec = promisify(execFile);
const key = randomBytes(32);
const grant = { site: 'primary', transferId: 'vm1.p1', nonce: 'n0n0n0n0n0n0n0n0n0' };

type PullOptions = Parameters<typeof pullNbd>[0];

/** A pull of the 64 MiB `vdb` export with this grant's key, unless the test says otherwise. */
function pull(o: Pick<PullOptions, 'address' | 'dest'> & Partial<PullOptions>) {
  return pullNbd({
    exportName: 'vdb',
    psk: nbdPsk(key, grant),
    virtualSize: 64 << 20,
    idleTimeoutMs: 10_000,
    ...o,
  });
}

describe('NBD pre-shared key', () => {
  it('is derived per site, transfer, nonce and key, and is not the transfer token', () => {
    const psk = nbdPsk(key, grant);
    expect(psk).toMatch(/^[0-9a-f]{64}$/);
    expect(nbdPsk(key, grant)).toBe(psk);
    for (const other of [
      { ...grant, site: 'secondary' },
      { ...grant, transferId: 'vm1.p2' },
      { ...grant, nonce: 'n1n1n1n1n1n1n1n1n1' },
    ])
      expect(nbdPsk(key, other)).not.toBe(psk);
    expect(nbdPsk(randomBytes(32), grant)).not.toBe(psk);
    expect(Buffer.from(transferToken(key, grant), 'base64url').toString('hex')).not.toBe(psk);
    expect(() => nbdPsk(randomBytes(16), grant)).toThrow(/shorter than 32 bytes/);
    expect(pskFileText(psk)).toBe(`lifeboat:${psk}\n`);
  });

  it('refuses hosts that are not addresses', () => {
    for (const ok of ['10.213.1.1', 'site-a.example', 'fd00::1', '[fd00::1]'])
      expect(nbdHostProblem(ok)).toBeNull();
    for (const bad of ['evil@10.0.0.1', 'h/x', 'h?tls-psk-file=/etc/shadow', '', 'a b'])
      expect(nbdHostProblem(bad)).toMatch(/is not an address/);
  });
});

describe('NBD stream on loopback (real qemu-storage-daemon and nbdcopy)', () => {
  let dir: string;
  let src: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-nbd-'));
    src = path.join(dir, 'src.qcow2');
    await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', src, '64M']);
    await pexec('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 3M', '-c', 'write -P 0x11 40M 64k', src]);
  });
  afterAll(async () => {
    await stopNbdExport(path.join(dir, 'export'));
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the disk exactly under its key, refuses another key, and stops by its pid file', async () => {
    const exp = path.join(dir, 'export');
    mkdirSync(exp);
    const psk = nbdPsk(key, grant);
    const address = await startNbdExport(
      exp,
      '127.0.0.1',
      [{ name: 'vdb', source: src, format: 'qcow2' }],
      psk,
    );
    const pid = Number(readFileSync(path.join(exp, 'nbd.pid'), 'utf8'));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('qemu-storage-daemon');
    // The key file is private to the site's worker.
    expect(statSync(path.join(exp, 'nbd-psk', 'keys.psk')).mode & 0o777).toBe(0o600);
    const dest = path.join(dir, 'dest.qcow2');
    const r = await pull({ address, psk, dest });
    expect(r.restarts).toBe(0);
    const cmp = await pexec('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', src, dest]);
    expect(cmp.stdout).toContain('Images are identical');
    // Zeros travelled as holes: the copy holds about the data written, not the 64 MiB disk.
    const info = JSON.parse((await pexec('qemu-img', ['info', '--output=json', dest])).stdout) as {
      'actual-size': number;
    };
    expect(info['actual-size']).toBeLessThan(8 << 20);
    expect(existsSync(`${dest}.psk`)).toBe(false);

    const wrong = pull({
      address,
      psk: nbdPsk(key, { ...grant, nonce: 'other-nonce-000000' }),
      dest: path.join(dir, 'wrong.qcow2'),
      maxRestarts: 1,
      backoff: { initialMs: 10, maxMs: 10 },
    });
    await expect(wrong).rejects.toMatchObject({
      code: 'TRANSFER_GAVE_UP',
      message: expect.stringMatching(/gnutls|TLS/i),
    });

    expect(await stopNbdExport(exp)).toBe(true);
    expect(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '').toBe(
      false,
    );
    expect(existsSync(path.join(exp, 'nbd.pid'))).toBe(false);
    expect(existsSync(path.join(exp, 'nbd-psk'))).toBe(false);
    // Stopping again finds nothing to stop.
    expect(await stopNbdExport(exp)).toBe(false);
  });

  it('a copy that stalls (a peer that never answers, as behind a cut link) is killed after the idle limit', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const started = Date.now();
      const stalled = pull({
        address: { host: '127.0.0.1', port },
        dest: path.join(dir, 'stalled.qcow2'),
        idleTimeoutMs: 1_000,
        maxRestarts: 0,
      });
      await expect(stalled).rejects.toMatchObject({
        message: expect.stringContaining('no progress for 1000 ms'),
      });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });

  it('a copy that cannot reach its export is started over, then gives up saying how often; a cancelled one stops', async () => {
    const dest = path.join(dir, 'nowhere.qcow2');
    // Nothing serves on the port the stopped export had.
    const address = { host: '127.0.0.1', port: 9 };
    const gaveUp = pull({ address, dest, maxRestarts: 2, backoff: { initialMs: 10, maxMs: 20 } });
    await expect(gaveUp).rejects.toMatchObject({
      code: 'TRANSFER_GAVE_UP',
      message: expect.stringContaining('failed 3 times'),
    });
    expect(existsSync(`${dest}.psk`)).toBe(false);
    const ac = new AbortController();
    const cancelled = pull({
      address,
      dest,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error('cycle cancelled')), 300);
    await expect(cancelled).rejects.toThrow(/cancelled|abort/i);
    expect(existsSync(`${dest}.psk`)).toBe(false);
  });
});
