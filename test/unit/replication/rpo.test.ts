import { describe, expect, it } from 'vitest';
import { judgeRpo, vmRpo } from '../../../replication/rpo.ts';
import { recoveryPoint } from '../../support/manifests.ts';

function point(id: string, checkpointAt: string, integrity: 'verified' | 'failed' | 'not-yet' = 'not-yet') {
  const base = recoveryPoint();
  return recoveryPoint({
    pointId: id,
    runbook: 'shop',
    vm: 'db',
    times: { ...base.times, checkpointAt, committedAt: checkpointAt },
    integrity: { state: integrity },
  });
}

const now = Date.parse('2026-01-01T00:10:00Z');

describe('RPO from manifests', () => {
  it('is the age of the newest point, whatever the order given', () => {
    const r = vmRpo('db', [point('p2', '2026-01-01T00:09:00Z'), point('p1', '2026-01-01T00:00:00Z')], now);
    expect(r).toMatchObject({ runbook: 'shop', vm: 'db', newestPointId: 'p2', ageSeconds: 60, points: 2 });
  });

  it('skips a point a scrub found failed, and counts it', () => {
    const r = vmRpo(
      'db',
      [point('p1', '2026-01-01T00:00:00Z'), point('p2', '2026-01-01T00:09:00Z', 'failed')],
      now,
    );
    expect(r).toMatchObject({ newestPointId: 'p1', ageSeconds: 600, failedPoints: 1 });
  });

  it('has no age when every point failed or there is none', () => {
    expect(vmRpo('db', [point('p1', '2026-01-01T00:00:00Z', 'failed')], now).ageSeconds).toBeUndefined();
    expect(vmRpo('db', [], now)).toMatchObject({ vm: 'db', points: 0, failedPoints: 0 });
  });

  it('is in breach past the objective, with the time in breach, and without a point', () => {
    expect(judgeRpo({ ageSeconds: 59 }, 60_000)).toEqual({ breach: false, secondsInBreach: 0 });
    expect(judgeRpo({ ageSeconds: 60 }, 60_000)).toEqual({ breach: false, secondsInBreach: 0 });
    expect(judgeRpo({ ageSeconds: 90 }, 60_000)).toEqual({ breach: true, secondsInBreach: 30 });
    expect(judgeRpo({}, 60_000).breach).toBe(true);
  });
});
