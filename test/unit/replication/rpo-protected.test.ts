import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readProtected, recordProtected } from '../../../replication/protected.ts';
import { runbookRpoState, withProtected } from '../../../replication/rpo-metrics.ts';
import type { ReplicaStore } from '../../../replication/store.ts';

const now = Date.parse('2026-01-01T00:10:00Z');
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('RPO of recorded runbooks', () => {
  it('gives a VM with no point its age since protection started, and the objective to those with one', () => {
    const rows = withProtected(
      [{ runbook: 'shop', vm: 'db', newestPointId: 'p1', ageSeconds: 30, failedPoints: 0, points: 1 }],
      [
        {
          runbook: 'shop',
          objectiveMs: 300_000,
          vms: { db: '2026-01-01T00:00:00.000Z', web: '2026-01-01T00:02:00.000Z' },
        },
      ],
      now,
    );
    expect(rows).toEqual([
      {
        runbook: 'shop',
        vm: 'db',
        newestPointId: 'p1',
        ageSeconds: 30,
        failedPoints: 0,
        points: 1,
        objectiveMs: 300_000,
      },
      { runbook: 'shop', vm: 'web', ageSeconds: 480, failedPoints: 0, points: 0, objectiveMs: 300_000 },
    ]);
  });

  it('a VM whose every point failed counts from protection start too', () => {
    const rows = withProtected(
      [{ runbook: 'shop', vm: 'db', failedPoints: 2, points: 2 }],
      [{ runbook: 'shop', objectiveMs: 60_000, vms: { db: '2026-01-01T00:09:00.000Z' } }],
      now,
    );
    expect(rows).toEqual([
      { runbook: 'shop', vm: 'db', ageSeconds: 60, failedPoints: 2, points: 2, objectiveMs: 60_000 },
    ]);
  });

  it('records each VM once, keeping when it was first seen, and drops VMs the plan no longer has', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lifeboat-protected-'));
    dirs.push(root);
    const t0 = new Date('2026-01-01T00:00:00Z');
    await recordProtected(root, { runbook: 'shop', vms: ['db', 'web'], objectiveMs: 60_000 }, t0);
    const r = await recordProtected(
      root,
      { runbook: 'shop', vms: ['db', 'app'], objectiveMs: 120_000 },
      new Date('2026-01-01T01:00:00Z'),
    );
    expect(r).toEqual({
      runbook: 'shop',
      objectiveMs: 120_000,
      vms: { db: '2026-01-01T00:00:00.000Z', app: '2026-01-01T01:00:00.000Z' },
    });
    expect(await readProtected(root)).toEqual([r]);
    // Kept beside the VMs' directories under a dot-name, which store listings skip.
    expect(await readdir(root)).toEqual(['.protection']);
    await expect(recordProtected(root, { runbook: '../x', vms: [], objectiveMs: 1 })).rejects.toThrow(
      /runbook/,
    );
  });

  it('judges a recorded runbook at a moment: within while protection is younger than the objective, then in breach', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lifeboat-protected-'));
    dirs.push(root);
    await recordProtected(
      root,
      { runbook: 'shop', vms: ['db'], objectiveMs: 60_000 },
      new Date('2026-01-01T00:00:00Z'),
    );
    // A store with no point at all (the VM directories are listed from the root, which has none).
    const store = { root, scanPoints: async () => ({ points: [] }) } as unknown as ReplicaStore;
    const input = { runbook: 'shop', vms: ['db', 'web'], objectiveMs: 60_000 };
    expect(await runbookRpoState(store, input, Date.parse('2026-01-01T00:00:30Z'))).toEqual({
      breach: ['web'],
      vms: [
        { vm: 'db', breach: false, ageSeconds: 30 },
        { vm: 'web', breach: true },
      ],
    });
    expect((await runbookRpoState(store, input, Date.parse('2026-01-01T00:02:00Z'))).breach).toEqual([
      'db',
      'web',
    ]);
  });
});
