import { describe, expect, it } from 'vitest';
import { isReplicationError } from '../../../replication/errors.ts';
import {
  type Manifest,
  parseManifest,
  pointFiles,
  pointKind,
  serializeManifest,
} from '../../../replication/manifest.ts';

const H = (c: string) => c.repeat(64);

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    apiVersion: 'lifeboat/v1',
    kind: 'RecoveryPoint',
    schemaVersion: 1,
    pointId: 'p2',
    runbook: 'payments',
    vm: 'pg-1',
    domain: { xml: '<domain/>', bootFiles: [{ role: 'kernel', path: 'vmlinuz', sha256: H('a'), size: 10 }] },
    disks: [
      {
        target: 'vda',
        chainPosition: 1,
        parentPointId: 'p1',
        image: 'vda.qcow2',
        backing: '../p1/vda.qcow2',
        files: [
          { path: 'vda.qcow2', sha256: H('b'), size: 1000 },
          { path: 'vda.blocks', sha256: H('c'), size: 64 },
        ],
        contentDigest: {
          algorithm: 'merkle-sha256-v1',
          blockSize: 1048576,
          virtualSize: 2097152,
          root: H('d'),
          blocksFile: 'vda.blocks',
        },
        virtualSize: 2097152,
      },
    ],
    consistency: { requested: 'application', achieved: 'application' },
    sourceCheckpoint: 'lifeboat-cp-2',
    times: {
      checkpointAt: '2026-11-25T09:00:00.000Z',
      transferStartedAt: '2026-11-25T09:00:01.000Z',
      transferEndedAt: '2026-11-25T09:00:02.000Z',
      committedAt: '2026-11-25T09:00:03.000Z',
    },
    workload: { seq: 41, at: '2026-11-25T08:59:59Z' },
    bytesShipped: 1064,
    integrity: { state: 'not-yet' },
    ...over,
  };
}

function invalidPaths(text: string): string[] {
  try {
    parseManifest(text, 'm.json');
  } catch (e) {
    if (isReplicationError(e, 'MANIFEST_INVALID')) return (e.context.issues as string[]) ?? [];
    throw e;
  }
  return [];
}

describe('recovery-point manifest', () => {
  it('round-trips through its JSON form', () => {
    const m = manifest();
    expect(parseManifest(serializeManifest(m), 'm.json')).toEqual(m);
  });

  it('refuses a downgraded consistency without a reason, accepts it with one', () => {
    const bad = manifest({ consistency: { requested: 'application', achieved: 'crash' } });
    expect(invalidPaths(JSON.stringify(bad)).join()).toMatch(/consistency\.reason/);
    const ok = manifest({
      consistency: { requested: 'application', achieved: 'crash', reason: 'fsfreeze timed out' },
    });
    expect(invalidPaths(JSON.stringify(ok))).toEqual([]);
  });

  it('refuses file names that would leave the point directory', () => {
    const m = manifest();
    m.disks[0]!.files[0]!.path = '../p1/vda.qcow2';
    expect(invalidPaths(JSON.stringify(m)).join()).toMatch(/disks\.0\.files\.0\.path/);
  });

  it('refuses another schema version and non-JSON', () => {
    expect(invalidPaths(JSON.stringify({ ...manifest(), schemaVersion: 2 })).join()).toMatch(/schemaVersion/);
    expect(() => parseManifest('{"apiVersion"', 'm.json')).toThrow(/not JSON/);
  });

  it('says full only when every disk is a full copy', () => {
    expect(pointKind(manifest())).toBe('incremental');
    const full = manifest();
    full.disks[0]!.parentPointId = null;
    expect(pointKind(full)).toBe('full');
  });

  it('lists boot files and disk files as the files to verify', () => {
    expect(pointFiles(manifest()).map((f) => f.path)).toEqual(['vmlinuz', 'vda.qcow2', 'vda.blocks']);
  });
});
