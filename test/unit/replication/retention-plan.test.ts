import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../replication/manifest.ts';
import { planRetention } from '../../../replication/retention.ts';
import { recoveryPoint } from '../../support/manifests.ts';

/** A linear chain p1 <- p2 <- ... committed a minute apart; `full` starts a new chain there. */
function chain(n: number, full: number[] = []): Manifest[] {
  const base = recoveryPoint();
  return Array.from({ length: n }, (_, i) => {
    const id = `p${i + 1}`;
    const at = new Date(Date.parse('2026-12-04T00:00:00Z') + i * 60_000).toISOString();
    const parent = i === 0 || full.includes(i + 1) ? null : `p${i}`;
    return recoveryPoint({
      pointId: id,
      times: { ...base.times, checkpointAt: at, committedAt: at },
      disks: base.disks.map((d) => ({ ...d, parentPointId: parent })),
    });
  });
}

describe('planRetention', () => {
  it('removes the oldest beyond the count, whatever order the points come in', () => {
    expect(planRetention(chain(5).reverse(), 3, {})).toEqual({ remove: ['p1', 'p2'], deferred: [] });
    expect(planRetention(chain(3), 3, {})).toEqual({ remove: [], deferred: [] });
  });

  it('never removes the newest point, even asked to keep none', () => {
    expect(planRetention(chain(3), 0, {}).remove).toEqual(['p1', 'p2']);
  });

  it('defers a held point and every point under a held chain, naming the holder', () => {
    const plan = planRetention(chain(5), 1, { 'runbook/shop/drill/2': ['p3'] });
    expect(plan.remove).toEqual(['p4']);
    expect(plan.deferred).toEqual([
      { pointId: 'p1', heldBy: ['runbook/shop/drill/2'], why: 'in the chain of held point p3' },
      { pointId: 'p2', heldBy: ['runbook/shop/drill/2'], why: 'in the chain of held point p3' },
      { pointId: 'p3', heldBy: ['runbook/shop/drill/2'], why: 'held by an operation' },
    ]);
  });

  it('lets an older chain go when the held point starts a new one', () => {
    const plan = planRetention(chain(5, [3]), 1, { 'runbook/shop/failover/1': ['p3'] });
    expect(plan.remove).toEqual(['p1', 'p2', 'p4']);
    expect(plan.deferred.map((d) => d.pointId)).toEqual(['p3']);
  });
});
