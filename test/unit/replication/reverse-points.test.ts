import { describe, expect, it } from 'vitest';
import { planReverseRetention, type ReversePoint } from '../../../replication/reverse/points.ts';

function point(seq: number, undo: boolean): ReversePoint {
  return {
    apiVersion: 'lifeboat/v1',
    kind: 'ReversePoint',
    seq,
    vm: 'db-1',
    operationId: `runbook/a/reprotect/${seq}`,
    key: `operation_${seq}`,
    commonPointId: 'p1',
    takenAt: '2026-12-04T18:00:00.000Z',
    committedAt: '2026-12-04T18:00:01.000Z',
    disks: [],
    ...(undo ? { undo: { bytes: 65536, sha256: { vda: 'a'.repeat(64) } } } : {}),
  };
}

describe('planReverseRetention', () => {
  const chain = [point(1, false), point(2, true), point(3, true)];
  it('keeps the newest points and drops the undo file that leads to a dropped one', () => {
    const plan = planReverseRetention(chain, 2);
    expect(plan.drop.map((p) => p.seq)).toEqual([1]);
    expect(plan.stripUndo?.seq).toBe(2);
    const one = planReverseRetention(chain, 1);
    expect(one.drop.map((p) => p.seq)).toEqual([1, 2]);
    expect(one.stripUndo?.seq).toBe(3);
  });
  it('drops nothing within the retention, and never the newest (the disks themselves)', () => {
    expect(planReverseRetention(chain, 3)).toEqual({ drop: [] });
    expect(planReverseRetention(chain, 10)).toEqual({ drop: [] });
    expect(planReverseRetention(chain, 0).drop.map((p) => p.seq)).toEqual([1, 2]);
    expect(planReverseRetention([], 1)).toEqual({ drop: [] });
  });
  it('leaves an oldest kept point that has no undo file as it is', () => {
    expect(planReverseRetention([point(4, false), point(5, true)], 2)).toEqual({ drop: [] });
  });
});
