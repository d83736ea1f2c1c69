import { describe, expect, it } from 'vitest';
import { renderLatestDrills } from '../../../platform/latest-drills.ts';

describe('renderLatestDrills', () => {
  const base = {
    id: 'runbook/lab/drill/3',
    outcome: 'succeeded' as const,
    endedAt: '2026-12-04T05:00:00.000Z',
  };

  it('points a reviewer at the signed report, or at the evidence when no report was made', () => {
    const text = renderLatestDrills([
      {
        runbook: 'lab',
        drill: {
          ...base,
          verdict: 'pass',
          evidencePath: '/h/evidence/lab/drill-3.json',
          report: { id: base.id, sha256: 'a'.repeat(64), htmlPath: '/h/reports/lab/drill-3.html' },
        },
      },
      { runbook: 'pay', drill: { ...base, verdict: 'fail', evidencePath: '/h/evidence/pay/drill-3.json' } },
      { runbook: 'web' },
    ]);
    expect(text).toBe(
      [
        'Latest drills:',
        '  lab: PASS runbook/lab/drill/3 ended 2026-12-04 05:00:00, report /h/reports/lab/drill-3.html',
        '  pay: FAIL runbook/lab/drill/3 ended 2026-12-04 05:00:00, evidence /h/evidence/pay/drill-3.json',
        '  web: no drill yet',
      ].join('\n'),
    );
  });
});
