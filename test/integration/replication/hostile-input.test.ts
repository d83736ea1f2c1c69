/**
 * A site worker refuses activity input that names paths outside its storage: workflow input is
 * data that came through Temporal, and a name with `..`, a slash or an absolute path must never
 * make the worker write, rebase, link or hash a file elsewhere.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicationActivities, type PullCommitInput } from '../../../activities/replication.ts';
import { createRestoreActivities, createRestorer } from '../../../activities/restore.ts';
import type { PrepareExportResult } from '../../../replication/export/index.ts';
import { LibvirtSession } from '../../../replication/export/libvirt-session.ts';
import { ReplicaStore } from '../../../replication/store.ts';
import type { TlsMaterial } from '../../../replication/tls.ts';
import type { TransferServer } from '../../../replication/transfer/server.ts';
import { RecordingDriver } from '../../support/recording-driver.ts';
import { tempDir } from './helpers.ts';

let work: string;
let storage: string;
let outside: string;

beforeAll(async () => {
  work = await tempDir('hostile-input');
  storage = join(work, 'storage');
  outside = join(work, 'outside');
  mkdirSync(storage);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'not for the workflow\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  const f = e as ApplicationFailure;
  expect(f.type).toBe('PATH_OUTSIDE_STORAGE');
  expect(f.nonRetryable).toBe(true);
  return f;
}

describe('site activities refuse paths outside their storage', () => {
  it('a pull whose export names files, points or VMs outside the replica store: refused before anything is staged', async () => {
    const store = new ReplicaStore(join(storage, 'replicas'));
    const acts = createReplicationActivities({
      virsh: { uri: 'qemu:///system', session: new LibvirtSession('qemu:///system') },
      storage,
      // Never reached: the input is refused first.
      server: {} as TransferServer,
      tls: { files: { key: '', cert: '', ca: '' } } as unknown as TlsMaterial,
      transferKey: Buffer.alloc(32),
      store,
    });
    const good = {
      runbook: 'rb',
      group: 'g',
      vm: 'vm1',
      pointId: 'c1',
      transferStartedAt: new Date().toISOString(),
      export: {
        transferId: 'vm1.c1',
        site: 'primary',
        nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
        baseUrl: 'https://127.0.0.1:1',
        disks: [{ target: 'vda', file: 'vda.qcow2', sha256: '0'.repeat(64), size: 1, parentPointId: null }],
        bootFiles: [],
      } as unknown as PrepareExportResult,
    } satisfies PullCommitInput;
    const disk = good.export.disks[0]!;
    const hostile: Array<[string, PullCommitInput]> = [
      ['vm', { ...good, vm: '../../outside' }],
      ['point id', { ...good, pointId: '../c1' }],
      [
        'disk file',
        { ...good, export: { ...good.export, disks: [{ ...disk, file: '../../../outside/x.qcow2' }] } },
      ],
      [
        'disk file',
        { ...good, export: { ...good.export, disks: [{ ...disk, file: join(outside, 'x.qcow2') }] } },
      ],
      ['parent point id', { ...good, export: { ...good.export, disks: [{ ...disk, parentPointId: '..' }] } }],
      [
        'boot file',
        {
          ...good,
          export: {
            ...good.export,
            bootFiles: [
              { role: 'kernel', file: '../../../outside/secret.txt', sha256: '0'.repeat(64), size: 1 },
            ],
          } as unknown as PrepareExportResult,
        },
      ],
      [
        'boot file point id',
        {
          ...good,
          export: {
            ...good.export,
            bootFiles: [
              {
                role: 'kernel',
                file: 'vmlinuz',
                sha256: '0'.repeat(64),
                size: 1,
                fromPointId: '../../../outside',
              },
            ],
          } as unknown as PrepareExportResult,
        },
      ],
    ];
    for (const [kind, input] of hostile) {
      const f = await refusal(new MockActivityEnvironment().run(acts.replicationPullCommit, input));
      expect(f.message).toContain(kind);
    }
    // Nothing was staged anywhere, and the outside directory is as it was.
    expect(existsSync(join(storage, 'replicas'))).toBe(false);
    expect(readdirSync(outside)).toEqual(['secret.txt']);
  });

  it('a teardown proof asked to hash a file outside the point: refused, no digest of it returned', async () => {
    const store = new ReplicaStore(join(storage, 'replicas'));
    const restorer = createRestorer({ driver: new RecordingDriver('secondary'), store, storage });
    const acts = createRestoreActivities(restorer);
    for (const file of ['../../../../outside/secret.txt', join(outside, 'secret.txt'), '..', '']) {
      await refusal(
        acts.restoreTeardownProof({
          operationId: 'runbook/rb/drill/1',
          purpose: 'drill',
          runbook: 'rb',
          before: [{ vm: 'vm1', pointId: 'c1', file, sha256: '0'.repeat(64), size: 0 }],
        }),
      );
    }
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('not for the workflow\n');
  });
});
