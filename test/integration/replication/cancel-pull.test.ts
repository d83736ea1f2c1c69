/**
 * A cancelled replication pull stops within a heartbeat: the pull activity heartbeats its
 * progress (bytes received) and watches the activity's cancellation, so a cancelled pull over a
 * link that stopped carrying bytes ends at once instead of waiting out idle timeouts and retries.
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReplicationActivities,
  HEARTBEAT_EVERY_MS,
  type PullCommitInput,
  type PullHeartbeat,
} from '../../../activities/replication.ts';
import { createImage } from '../../../replication/chain.ts';
import type { PrepareExportResult } from '../../../replication/export/index.ts';
import { LibvirtSession } from '../../../replication/export/libvirt-session.ts';
import { ReplicaStore } from '../../../replication/store.ts';
import { ensureSiteCert, ensureTransferKey, loadSiteTls, loadTransferKey } from '../../../replication/tls.ts';
import { newTransferNonce } from '../../../replication/transfer/protocol.ts';
import { TransferServer } from '../../../replication/transfer/server.ts';
import { MiB, qemuIo, tempDir } from './helpers.ts';
import { LinkProxy } from './link-proxy.ts';

let work: string;
let big: string;

beforeAll(async () => {
  work = await tempDir('cancel-pull');
  big = join(work, 'big.qcow2');
  await createImage(big, 64 * MiB);
  await qemuIo(big, ['write -P 0x5a 0 40M']);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** curl processes this test process started and that still run. */
function curlChildren(): string[] {
  const out = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'pid=,comm='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.endsWith(' curl'));
}

describe('replication pull cancellation', () => {
  it('a cancelled pull stops within a heartbeat, after heartbeats that carried its progress', async () => {
    const tlsDir = join(work, 'tls');
    await ensureSiteCert(tlsDir, 'a', ['127.0.0.1']);
    await ensureSiteCert(tlsDir, 'b', ['127.0.0.1']);
    await ensureTransferKey(tlsDir);
    const transferKey = await loadTransferKey(tlsDir);
    const server = await TransferServer.start({
      tls: await loadSiteTls(tlsDir, 'a'),
      host: '127.0.0.1',
      site: 'a',
      transferKey,
    });
    const link = await LinkProxy.start(server.port);
    try {
      const nonce = newTransferNonce();
      const transferId = 'vm1.c1';
      const manifest = await server.register({
        transferId,
        nonce,
        files: [{ name: 'vda.qcow2', path: big }],
      });
      const size = manifest.files[0]!.size;
      const store = new ReplicaStore(join(work, 'replicas'));
      const acts = createReplicationActivities({
        virsh: { uri: 'qemu:///system', session: new LibvirtSession('qemu:///system') },
        storage: work,
        server,
        tls: await loadSiteTls(tlsDir, 'b'),
        transferKey,
        store,
        // Far longer than the test: only the cancellation may end this pull.
        pullIdleTimeoutMs: 120_000,
      });
      const input: PullCommitInput = {
        runbook: 'rb',
        group: 'g',
        vm: 'vm1',
        pointId: 'c1',
        transferStartedAt: new Date().toISOString(),
        export: {
          transferId,
          site: 'a',
          nonce,
          baseUrl: `https://127.0.0.1:${link.port}`,
          disks: [
            {
              target: 'vda',
              file: 'vda.qcow2',
              sha256: manifest.files[0]!.sha256,
              size,
              parentPointId: null,
            },
          ],
        } as unknown as PrepareExportResult,
      };
      const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 });
      const beats: PullHeartbeat[] = [];
      env.on('heartbeat', (d: PullHeartbeat | undefined) => {
        if (d !== undefined) beats.push(d);
      });
      // Half the file crosses, then the link stops carrying bytes (nothing closes): a long pull.
      const halfway = link.cutAfter(size / 2);
      const running = env.run(acts.replicationPullCommit, input);
      const settled = running.then(
        () => 'finished',
        (e: unknown) => e,
      );
      await halfway;
      // Wait for a heartbeat that reports the bytes that crossed.
      const deadline = Date.now() + 3 * HEARTBEAT_EVERY_MS;
      while (!beats.some((b) => b.phase === 'pull' && b.bytesReceived > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(beats.at(-1)).toMatchObject({ phase: 'pull', file: 'vda.qcow2' });
      expect(beats.at(-1)!.bytesReceived).toBeGreaterThan(0);
      expect(beats.at(-1)!.bytesReceived).toBeLessThan(size);
      expect(curlChildren().length).toBeGreaterThan(0);

      const t0 = performance.now();
      env.cancel();
      const outcome = await settled;
      const stoppedMs = performance.now() - t0;
      expect(outcome).toBeInstanceOf(CancelledFailure);
      expect(stoppedMs).toBeLessThan(HEARTBEAT_EVERY_MS);
      // Its curl is gone and nothing was committed.
      expect(curlChildren()).toEqual([]);
      expect((await store.scanPoints('vm1')).points).toEqual([]);
    } finally {
      await link.close();
      await server.close();
    }
  });
});
