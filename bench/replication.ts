/**
 * Replication data-plane figures on this machine, in one run: content-digest throughput (guest
 * view through an nbdcopy pipe vs `qemu-img convert` to a temp file then reading it), the
 * incremental digest update, and HTTPS transfer throughput on loopback for a 256 MiB file.
 * Figures go to bench/results/replication.json.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createImage, createOverlay, layerExtents } from '../replication/chain.ts';
import { digestImage, updateImageDigest } from '../replication/content-digest.ts';
import { runProcess } from '../replication/exec.ts';
import { sha256File } from '../replication/fsutil.ts';
import { ensureSiteCert, ensureTransferKey, loadSiteTls, loadTransferKey } from '../replication/tls.ts';
import { pullTransfer } from '../replication/transfer/client.ts';
import { newTransferNonce, transferToken } from '../replication/transfer/protocol.ts';
import { TransferServer } from '../replication/transfer/server.ts';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
const RUNS = 3;

async function qemuIo(image: string, commands: string[]): Promise<void> {
  const r = await runProcess('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), image]);
  if (r.exitCode !== 0) throw new Error(`qemu-io: ${r.stderr}`);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const mbps = (bytes: number, ms: number) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;

/** The alternative reader: convert the chain to a sparse raw temp file, then hash it per block. */
async function digestViaConvert(image: string, dir: string): Promise<string> {
  const raw = join(dir, 'guest.raw');
  const r = await runProcess('qemu-img', ['convert', '-O', 'raw', image, raw]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const hashes: Buffer[] = [];
  for await (const chunk of createReadStream(raw, { highWaterMark: MiB })) {
    hashes.push(
      createHash('sha256')
        .update(chunk as Buffer)
        .digest(),
    );
  }
  await rm(raw);
  return createHash('sha256').update(Buffer.concat(hashes)).digest('hex');
}

/** `--serve <file> <tlsDir>`: the primary's side, run as a child process by the benchmark. */
async function serve(file: string, tlsDir: string): Promise<void> {
  const server = await TransferServer.start({
    tls: await loadSiteTls(tlsDir, 'a'),
    host: '127.0.0.1',
    site: 'a',
    transferKey: await loadTransferKey(tlsDir),
  });
  const nonce = newTransferNonce();
  const digest = await sha256File(file);
  const transferIds = Array.from({ length: RUNS }, (_, i) => `bench-${i}`);
  for (const transferId of transferIds) {
    await server.register({ transferId, nonce, files: [{ name: 'disk.qcow2', path: file, digest }] });
  }
  process.stdout.write(`${JSON.stringify({ url: server.url, nonce, transferIds })}\n`);
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await server.close();
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-bench-replication-'));
  try {
    // A 256 MiB disk full of data (no zero shortcut: every block is hashed), and an empty one.
    const full = join(work, 'full.qcow2');
    await createImage(full, SIZE);
    await qemuIo(full, ['write -P 0x5a 0 128M', 'write -P 0xa5 128M 128M']);
    const empty = join(work, 'empty.qcow2');
    await createImage(empty, SIZE);
    // 1% changed in 1 MiB runs on top of the full disk.
    const inc = join(work, 'inc.qcow2');
    await createOverlay(inc, full);
    await qemuIo(
      inc,
      Array.from({ length: 3 }, (_, i) => `write -P 0x${(i + 1).toString(16)}${i} ${i * 80 + 7}M 1M`),
    );

    const pipe: number[] = [];
    const convert: number[] = [];
    const emptyPipe: number[] = [];
    const hashOnly: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      pipe.push((await timed(() => digestImage(full))).ms);
      convert.push((await timed(() => digestViaConvert(full, work))).ms);
      emptyPipe.push((await timed(() => digestImage(empty))).ms);
      hashOnly.push((await timed(() => sha256File(full))).ms);
    }
    const parent = await digestImage(full);
    const extents = await layerExtents(inc);
    const incRuns: number[] = [];
    let incBytesRead = 0;
    for (let i = 0; i < RUNS; i++) {
      const r = await timed(() =>
        updateImageDigest(inc, { ...parent.digest, blocks: parent.blocks }, extents),
      );
      incRuns.push(r.ms);
      incBytesRead = r.value.bytesRead;
    }
    const incFull = await timed(() => digestImage(inc));

    // Transfer: the 256 MiB qcow2 file over HTTPS (mutual TLS) on loopback, the primary's server
    // in its own process as in production (sharing one event loop would halve the figure).
    const tlsDir = join(work, 'tls');
    await ensureSiteCert(tlsDir, 'a', ['127.0.0.1']);
    await ensureSiteCert(tlsDir, 'b', ['127.0.0.1']);
    await ensureTransferKey(tlsDir);
    const transferKey = await loadTransferKey(tlsDir);
    const siteB = await loadSiteTls(tlsDir, 'b');
    const fileSha = await sha256File(full);
    const child = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--serve', full, tlsDir],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const wire: number[] = [];
    const endToEnd: number[] = [];
    try {
      const lines = createInterface({ input: child.stdout! });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`transfer server exited with ${code}`)));
      });
      const served = JSON.parse(first) as { url: string; nonce: string; transferIds: string[] };
      for (const transferId of served.transferIds) {
        const dest = join(work, `dest-${transferId}`);
        mkdirSync(dest);
        const t0 = performance.now();
        let lastByte = t0;
        const r = await pullTransfer({
          baseUrl: served.url,
          transferId,
          token: transferToken(transferKey, { site: 'a', transferId, nonce: served.nonce }),
          tls: siteB.files,
          destDir: dest,
          onProgress: () => {
            lastByte = performance.now();
          },
        });
        endToEnd.push(performance.now() - t0);
        wire.push(lastByte - t0);
        if (r.bytesReceived !== fileSha.size || r.files[0]!.sha256 !== fileSha.sha256)
          throw new Error('bad transfer');
        await rm(dest, { recursive: true });
      }
    } finally {
      child.stdin!.end();
      await new Promise((resolve) => child.once('exit', resolve));
    }

    const result = {
      benchmark: 'replication',
      date: new Date().toISOString(),
      node: process.version,
      runs: RUNS,
      contentDigest: {
        virtualBytes: SIZE,
        blockSize: MiB,
        nbdcopyPipeMBps: mbps(SIZE, median(pipe)),
        convertToTempThenReadMBps: mbps(SIZE, median(convert)),
        emptyDiskNbdcopyPipeMBps: mbps(SIZE, median(emptyPipe)),
        sha256OfFileOnlyMBps: mbps(fileSha.size, median(hashOnly)),
        chosenReader: median(pipe) <= median(convert) ? 'nbdcopy pipe' : 'qemu-img convert to temp',
        incremental: {
          changedExtents: extents.length,
          bytesRead: incBytesRead,
          medianMs: Math.round(median(incRuns)),
          fullRereadMs: Math.round(incFull.ms),
        },
      },
      transfer: {
        fileBytes: fileSha.size,
        transport: 'HTTPS (TLS 1.3, mutual), loopback, server in a child process, client writing to disk',
        wireMBps: mbps(fileSha.size, median(wire)),
        withFsyncAndSha256MBps: mbps(fileSha.size, median(endToEnd)),
      },
    };
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(
      new URL('./results/replication.json', import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3]!, process.argv[4]!);
else await main();
