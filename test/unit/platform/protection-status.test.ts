import { describe, expect, it } from 'vitest';
import { fenceLine, judgeProtection, renderProtection } from '../../../platform/protection-status.ts';

const now = Date.parse('2026-12-04T06:00:00Z');
const view = {
  runbook: 'shop',
  protected: true,
  paused: false,
  replication: { everyMs: 60_000, nextAt: '2026-12-04T06:00:30.000Z' },
  drill: { everyMs: 86_400_000, nextAt: '2026-12-05T00:00:00.000Z' },
};

describe('protection status', () => {
  it('shows the next cycle, the RPO against its objective and the last drill', () => {
    const s = judgeProtection(
      {
        runbook: 'shop',
        view,
        protectedAt: '2026-12-04T05:59:00Z',
        rpoObjectiveMs: 300_000,
        drill: {
          id: 'runbook/shop/drill/3',
          outcome: 'succeeded',
          endedAt: '2026-12-04T01:00:00Z',
          verdict: 'pass',
        },
      },
      now,
    );
    expect(s).toMatchObject({ rpoSeconds: 60, rpoBreach: false, drillOverdue: false });
    const text = renderProtection([s], now);
    expect(text).toContain('shop: protected, replication every 60s, next cycle 2026-12-04 06:00:30');
    expect(text).toContain('newest complete cycle 60s old (objective 5m)');
    expect(text).toContain('last PASS runbook/shop/drill/3 2026-12-04 01:00:00');
    expect(text).not.toContain('OVERDUE');
  });

  it('says RPO BREACH past the objective and DRILL OVERDUE past drill.every', () => {
    const s = judgeProtection(
      {
        runbook: 'shop',
        view,
        protectedAt: '2026-12-04T05:00:00Z',
        rpoObjectiveMs: 300_000,
        drill: {
          id: 'runbook/shop/drill/2',
          outcome: 'failed',
          endedAt: '2026-12-02T06:00:00Z',
          verdict: 'fail',
        },
      },
      now,
    );
    expect(s).toMatchObject({ rpoBreach: true, drillOverdue: true });
    const text = renderProtection([s], now);
    expect(text).toContain('RPO BREACH');
    expect(text).toContain('last FAIL runbook/shop/drill/2');
    expect(text).toContain('DRILL OVERDUE by 24h');
  });

  it('says paused with the reason, and not protected', () => {
    const paused = judgeProtection(
      { runbook: 'shop', view: { ...view, paused: true, note: 'failover 1' } },
      now,
    );
    const off = judgeProtection(
      { runbook: 'crm', view: { runbook: 'crm', protected: false, paused: false } },
      now,
    );
    const text = renderProtection([paused, off], now);
    expect(text).toContain('shop: PAUSED (failover 1)');
    expect(text).not.toContain('next cycle');
    expect(text).toContain('no cycle has committed every VM yet');
    expect(text).toContain('crm: not protected');
    expect(renderProtection([], now)).toContain('no runbook is protected');
  });

  it('counts a never-drilled runbook overdue, and a VM-less RPO, from when protection started', () => {
    const since = '2026-12-02T06:00:00.000Z';
    const s = judgeProtection({ runbook: 'shop', view: { ...view, since }, rpoObjectiveMs: 300_000 }, now);
    expect(s).toMatchObject({
      drillOverdue: true,
      rpoSeconds: 172_800,
      rpoBreach: true,
      sinceProtected: true,
    });
    const text = renderProtection([s], now);
    expect(text).toContain('no drill yet');
    expect(text).toContain('DRILL OVERDUE by 24h');
    expect(text).toContain(
      'no cycle has committed every VM yet, protected for 2d (objective 5m): RPO BREACH',
    );

    const fresh = judgeProtection(
      { runbook: 'shop', view: { ...view, since: '2026-12-04T05:59:00.000Z' }, rpoObjectiveMs: 300_000 },
      now,
    );
    expect(fresh).toMatchObject({ drillOverdue: false, rpoSeconds: 60, rpoBreach: false });
  });

  it('reports cycles skipped because one took longer than every, not stacked', () => {
    const slow = {
      ...view,
      replication: { ...view.replication, skippedOverlap: 3, runningSince: '2026-12-04T05:57:00.000Z' },
    };
    const text = renderProtection([judgeProtection({ runbook: 'shop', view: slow }, now)], now);
    expect(text).toContain(
      '3 scheduled cycles skipped: a cycle took longer than every 60s (one waits, none stacked; the run going now started 3m ago)',
    );
  });
});

describe('fence line', () => {
  it('says who fenced which site and why, and whether the site enforced it', () => {
    const fence = {
      site: 'primary' as const,
      reason: 'failed over by runbook/p/failover/2',
      since: '2026-12-04T08:00:00.000Z',
      by: 'alice@host',
    };
    expect(fenceLine(fence)).toBe(
      'fence: primary by alice@host since 2026-12-04 08:00:00, failed over by runbook/p/failover/2; not enforced by the site yet (its worker does when it is back)',
    );
    expect(
      fenceLine({
        ...fence,
        enforced: {
          at: '2026-12-04T08:01:26.875Z',
          site: 'east',
          vms: [{ vm: 'db-1', detail: 'forced off' }],
        },
      }),
    ).toMatch(/; enforced at east 2026-12-04 08:01:26 \(db-1 forced off\)$/);
  });
});
