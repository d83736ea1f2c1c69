/** A recovery point's manifest for tests of what reads one: p2, an incremental on p1. */
import type { Manifest } from '../../replication/manifest.ts';

const H = (c: string) => c.repeat(64);

/** Valid as it stands; `over` replaces whole top-level fields. */
export function recoveryPoint(over: Partial<Manifest> = {}): Manifest {
  return {
    apiVersion: 'lifeboat/v1',
    kind: 'RecoveryPoint',
    schemaVersion: 1,
    pointId: 'p2',
    runbook: 'rb',
    vm: 'db-1',
    domain: { xml: '<domain/>', bootFiles: [{ role: 'kernel', path: 'vmlinuz', sha256: H('a'), size: 10 }] },
    disks: [
      {
        target: 'vda',
        chainPosition: 1,
        parentPointId: 'p1',
        image: 'vda.qcow2',
        backing: '../p1/vda.qcow2',
        files: [
          { path: 'vda.qcow2', sha256: H('b'), size: 3 * 1024 * 1024 },
          { path: 'vda.blocks', sha256: H('c'), size: 1024 },
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
    consistency: { requested: 'application', achieved: 'crash', reason: 'guest agent fsfreeze failed' },
    sourceCheckpoint: 'lb-p2',
    times: {
      checkpointAt: '2026-11-25T10:00:00.000Z',
      transferStartedAt: '2026-11-25T10:00:01.000Z',
      transferEndedAt: '2026-11-25T10:00:02.000Z',
      committedAt: '2026-11-25T10:00:03.000Z',
    },
    workload: { seq: 41, at: '2026-11-25T09:59:59Z' },
    bytesShipped: 3 * 1024 * 1024 + 1024,
    integrity: { state: 'not-yet' },
    ...over,
  };
}
