import { describe, expect, it } from 'vitest';
import { choosePointSet, type PointCandidate, parsePointSelector } from '../../../restore/point-set.ts';

const p = (
  vm: string,
  pointId: string,
  checkpointAt: string,
  integrity: PointCandidate['integrity'] = 'not-yet',
) => ({
  vm,
  pointId,
  checkpointAt,
  integrity,
});
const VMS = ['db-1', 'app-1'];
const points = new Map([
  [
    'db-1',
    [
      p('db-1', '20261204T010000Z-1', '2026-12-04T01:00:01Z'),
      p('db-1', '20261204T011000Z-2', '2026-12-04T01:10:01Z'),
      p('db-1', '20261204T012000Z-3', '2026-12-04T01:20:01Z'),
    ],
  ],
  [
    'app-1',
    [
      p('app-1', '20261204T010000Z-1', '2026-12-04T01:00:02Z'),
      p('app-1', '20261204T011000Z-2', '2026-12-04T01:10:02Z', 'failed'),
    ],
  ],
]);

describe('parsePointSelector', () => {
  it('takes latest, a point id and an ISO time with a zone', () => {
    expect(parsePointSelector(undefined)).toEqual({ ok: true, selector: { kind: 'latest' } });
    expect(parsePointSelector('20261204T011000Z-2')).toEqual({
      ok: true,
      selector: { kind: 'point', pointId: '20261204T011000Z-2' },
    });
    const t = parsePointSelector('2026-12-04T01:15:00Z');
    expect(t.ok && t.selector.kind === 'time' && t.selector.at).toBe('2026-12-04T01:15:00.000Z');
  });
  it.each(['../../etc/passwd', 'yesterday', '2026-12-04 01:15', '$(reboot)', '20261204T011000Z-2; rm', ''])(
    'refuses %j with a hint',
    (v) => {
      const r = parsePointSelector(v);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.hint).toMatch(/latest/);
    },
  );
});

describe('choosePointSet', () => {
  it('takes the newest cycle in which every VM has a usable point (a failed one does not count)', () => {
    const r = choosePointSet(VMS, points, { kind: 'latest' });
    expect(r).toMatchObject({ ok: true, pointId: '20261204T010000Z-1', capturedAt: '2026-12-04T01:00:01Z' });
    if (r.ok) expect(r.points.map((x) => x.vm)).toEqual(VMS);
  });
  it('names the VMs that lack a point', () => {
    const r = choosePointSet([...VMS, 'web-1'], points, { kind: 'latest' });
    expect(r).toMatchObject({ ok: false, code: 'POINT_SET_MISSING', missing: ['web-1'] });
  });
  it('refuses a named point that a VM lacks or failed, and one that does not exist', () => {
    expect(choosePointSet(VMS, points, { kind: 'point', pointId: '20261204T011000Z-2' })).toMatchObject({
      ok: false,
      code: 'POINT_NOT_FOUND',
      missing: ['app-1'],
    });
    expect(choosePointSet(VMS, points, { kind: 'point', pointId: '20991204T011000Z-9' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/no point/),
    });
  });
  it('a time picks the newest complete cycle captured at or before it, and refuses one before every point', () => {
    const at = (s: string) => ({ kind: 'time' as const, at: s, atMs: Date.parse(s) });
    expect(choosePointSet(['db-1'], points, at('2026-12-04T01:15:00Z'))).toMatchObject({
      ok: true,
      pointId: '20261204T011000Z-2',
    });
    expect(choosePointSet(['db-1'], points, at('2026-12-04T00:00:00Z'))).toMatchObject({
      ok: false,
      missing: ['db-1'],
    });
  });
});
