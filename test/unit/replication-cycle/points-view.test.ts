import { describe, expect, it } from 'vitest';
import { pointRow, renderPoints } from '../../../cli/commands/points.ts';
import type { Manifest } from '../../../replication/manifest.ts';
import { pointIdFor } from '../../../workflows/replication.ts';

const sha = 'a'.repeat(64);

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    apiVersion: 'lifeboat/v1',
    kind: 'RecoveryPoint',
    schemaVersion: 1,
    pointId: 'p2',
    runbook: 'rb',
    vm: 'db-1',
    domain: { xml: '<domain/>', bootFiles: [] },
    disks: [
      {
        target: 'vda',
        chainPosition: 1,
        parentPointId: 'p1',
        image: 'vda.qcow2',
        backing: '../p1/vda.qcow2',
        files: [
          { path: 'vda.qcow2', sha256: sha, size: 3 * 1024 * 1024 },
          { path: 'vda.blocks', sha256: sha, size: 1024 },
        ],
        contentDigest: {
          algorithm: 'merkle-sha256-v1',
          blockSize: 1048576,
          virtualSize: 1048576,
          root: sha,
          blocksFile: 'vda.blocks',
        },
        virtualSize: 1048576,
      },
    ],
    consistency: { requested: 'application', achieved: 'crash', reason: 'guest agent fsfreeze failed' },
    sourceCheckpoint: 'lb-p2',
    times: {
      checkpointAt: '2026-11-25T10:00:00.000Z',
      transferStartedAt: '2026-11-25T10:00:01.000Z',
      transferEndedAt: '2026-11-25T10:00:02.000Z',
      committedAt: '2026-11-25T10:00:03.000Z',
    },
    bytesShipped: 3 * 1024 * 1024,
    integrity: { state: 'not-yet' },
    ...over,
  };
}

describe('points view', () => {
  it('describes a point: kind, size of its files, age, downgraded consistency, holders', () => {
    const row = pointRow(
      manifest(),
      { 'runbook/rb/drill/1': ['p2'], 'runbook/rb/drill/2': ['p1'] },
      Date.parse('2026-11-25T10:05:00Z'),
    );
    expect(row).toMatchObject({
      id: 'p2',
      kind: 'incremental',
      size: 3 * 1024 * 1024 + 1024,
      ageSeconds: 300,
      consistency: 'crash',
      consistencyReason: 'guest agent fsfreeze failed',
      integrity: 'not-yet',
      heldBy: ['runbook/rb/drill/1'],
    });
    const text = renderPoints([row], true);
    expect(text).toMatch(
      /db-1\s+p2\s+2026-11-25T10:00:00.000Z\s+5m\s+3.0 MiB\s+incremental\s+crash\s+not-yet\s+runbook\/rb\/drill\/1/,
    );
    expect(text).toContain('crash-consistent because guest agent fsfreeze failed');
  });
  it('says when holders are unknown and why a point failed', () => {
    const row = pointRow(
      manifest({ integrity: { state: 'failed', detail: 'vda.qcow2: sha256 x' } }),
      {},
      Date.now(),
    );
    const text = renderPoints([row], false);
    expect(text).toContain('verification failed: vda.qcow2: sha256 x');
    expect(text).toContain('(held by: the controller could not be asked)');
  });
});

describe('pointIdFor', () => {
  it('sorts by time and names the cycle number', () => {
    expect(pointIdFor(new Date('2026-11-25T10:00:05.123Z'), 'runbook/rb/replication/12')).toBe(
      '20261125T100005Z-12',
    );
  });
});
