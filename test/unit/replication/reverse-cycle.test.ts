import { describe, expect, it } from 'vitest';
import { type ReverseRecord, reverseBase } from '../../../replication/reverse/cycle.ts';

const record: ReverseRecord = {
  version: 1,
  operationId: 'runbook/a/reprotect/2',
  pointId: 'p1',
  images: { vda: '/s/restores/f-1/vm/vda.qcow2', vdb: '/s/restores/f-1/vm/vdb.qcow2' },
  checkpoint: 'lb-reverse-operation_runbook_a_reprotect_2',
  at: '2026-12-04T18:00:00.000Z',
};
const now = { pointId: 'p1', images: { ...record.images }, lastReprotect: 'runbook/a/reprotect/2' };

describe('reverseBase', () => {
  it('counts from the recorded checkpoint when point, overlays and the old primary agree', () => {
    expect(reverseBase(record, now)).toEqual({ checkpoint: record.checkpoint });
  });
  it('falls back, saying why, for each thing that does not line up', () => {
    expect(reverseBase(null, now)).toEqual({ reason: 'no earlier reverse cycle recorded at this site' });
    expect(reverseBase(record, { ...now, pointId: 'p2' })).toEqual({
      reason: 'the last reverse cycle was from point p1, not p2',
    });
    expect(
      reverseBase(record, { ...now, images: { ...now.images, vdb: '/s/restores/f-2/vm/vdb.qcow2' } }),
    ).toEqual({ reason: 'the disks are not the overlays the last reverse cycle read (vdb)' });
    expect(reverseBase(record, { ...now, images: { vda: record.images.vda as string } })).toEqual({
      reason: 'the disks are not the overlays the last reverse cycle read (disk set)',
    });
    const { lastReprotect: _, ...unknown } = now;
    expect(reverseBase(record, unknown)).toEqual({
      reason: `the old primary's last applied reprotect is unknown, this site's checkpoint follows ${record.operationId}`,
    });
    expect(reverseBase(record, { ...now, lastReprotect: 'runbook/a/reprotect/3' })).toMatchObject({
      reason: expect.stringContaining('is runbook/a/reprotect/3'),
    });
  });
});
