import { describe, expect, it } from 'vitest';
import {
  pointRow,
  renderPoints,
  renderReversePoints,
  reversePointRows,
} from '../../../cli/commands/points.ts';
import type { ReversePoint } from '../../../replication/reverse/points.ts';
import { pointIdFor } from '../../../workflows/replication.ts';
import { recoveryPoint } from '../../support/manifests.ts';

describe('points view', () => {
  it('describes a point: kind, size of its files, age, downgraded consistency, holders', () => {
    const row = pointRow(
      recoveryPoint(),
      { 'runbook/rb/drill/1': ['p2'], 'runbook/rb/drill/2': ['p1'] },
      Date.parse('2026-11-25T10:05:00Z'),
    );
    expect(row).toMatchObject({
      id: 'p2',
      kind: 'incremental',
      size: 10 + 3 * 1024 * 1024 + 1024, // the kernel and both disk files
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
  it('does not count a boot file the point shares with an older one by a hard link', () => {
    const base = recoveryPoint();
    const linked = recoveryPoint({
      domain: { ...base.domain, bootFiles: base.domain.bootFiles.map((b) => ({ ...b, linkedFrom: 'p1' })) },
    });
    expect(pointRow(linked, {}, Date.now()).size).toBe(3 * 1024 * 1024 + 1024);
  });
  it('says when holders are unknown and why a point failed', () => {
    const row = pointRow(
      recoveryPoint({ integrity: { state: 'failed', detail: 'vda.qcow2: sha256 x' } }),
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
  it('lists the reverse points kept at the old primary, the newest being its disks', () => {
    const p = (seq: number, at: string): ReversePoint => ({
      apiVersion: 'lifeboat/v1',
      kind: 'ReversePoint',
      seq,
      vm: 'db-1',
      operationId: `runbook/rb/reprotect/${seq}`,
      key: `k${seq}`,
      commonPointId: 'p7',
      takenAt: at,
      committedAt: at,
      disks: [
        {
          target: 'vda',
          image: '/s/vda.qcow2',
          format: 'qcow2',
          extents: [],
          bytes: 2 * 1024 * 1024,
          deltaSha256: 'x',
        },
        {
          target: 'vdb',
          image: '/s/vdb.qcow2',
          format: 'qcow2',
          extents: [],
          bytes: 64 * 1024,
          deltaSha256: 'y',
        },
      ],
    });
    const rows = reversePointRows(
      [p(3, '2026-12-04T10:00:00.000Z'), p(4, '2026-12-04T10:04:00.000Z')],
      'primary',
      Date.parse('2026-12-04T10:05:00Z'),
    );
    expect(rows.map((r) => [r.seq, r.ageSeconds, r.size, r.newest])).toEqual([
      [3, 300, 2 * 1024 * 1024 + 64 * 1024, false],
      [4, 60, 2 * 1024 * 1024 + 64 * 1024, true],
    ]);
    const text = renderReversePoints(rows);
    expect(text).toContain('reverse points at primary (the old primary; the newest is its disks):');
    expect(text).toMatch(
      /db-1\s+3\s+2026-12-04T10:00:00.000Z\s+5m\s+2.1 MiB\s+p7\s+runbook\/rb\/reprotect\/3/,
    );
    expect(text).toMatch(/db-1\s+4 \(disks\)\s+2026-12-04T10:04:00.000Z\s+60s/);
    expect(renderReversePoints([])).toBe('');
  });
});
