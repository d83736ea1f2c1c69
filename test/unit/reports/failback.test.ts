import { describe, expect, it } from 'vitest';
import type { Evidence, FailbackEvidence } from '../../../reports/evidence.ts';
import { failbackLines } from '../../../reports/summary.ts';
import { checkReport } from '../../../reports/verify.ts';
import { buildEvidence } from '../../../workflows/evidence.ts';
import type { OperationProgress } from '../../../workflows/types.ts';
import { drillEvidence, failbackEvidence } from '../../fixtures/reports/evidence.ts';
import { diamondPlan } from '../../support/plans.ts';
import { KEY, signedPage } from './helpers.ts';

const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&</script><!--';

function section(html: string): string {
  const from = html.indexOf('<section id="failback">');
  return from < 0 ? '' : html.slice(from, html.indexOf('</section>', from) + '</section>'.length);
}

describe("a failback's report", () => {
  const page = signedPage(failbackEvidence());
  const html = page.input.html!.text;
  const s = section(html);

  it('puts the failback section after the objectives and before the timeline, and the page verifies', () => {
    expect(html.indexOf('id="failback"')).toBeGreaterThan(html.indexOf('id="objectives"'));
    expect(html.indexOf('id="failback"')).toBeLessThan(html.indexOf('id="timeline"'));
    expect(html).not.toContain('id="failover"');
    expect(checkReport(page.input, KEY.ref).problems).toEqual([]);
  });

  it('shows the downtime, the shutdowns, the final reprotect, the data proof, the boots and the cleanup', () => {
    expect(s).toContain(
      "<dt>Downtime</dt><dd>1 min 35 s, from the first secondary VM's shutdown to the last group healthy at the primary</dd>",
    );
    expect(s).toContain('<dt>Records lost</dt><dd><span class="ok">0</span></dd>');
    expect(s).toContain('412 (written at the secondary since the common point)');
    expect(s).toContain('<td>db-1</td><td class="other">forced off</td>');
    expect(s).toContain('<td>3.0 MiB</td><td>3.0 MiB</td>');
    expect(s).toContain('whole disks: no common point');
    expect(s.slice(s.indexOf('Data proof')).match(/<tr><td>db-1<\/td>(.*?)<\/tr>/)?.[1]).toBe(
      '<td>vdb</td><td>9120</td><td>9120</td><td class="ok">0</td><td class="ok">yes</td>',
    );
    expect(s).toContain('<tr><td>db-1</td><td>3</td>');
    expect(s).toContain('lifted at 2026-');
    expect(s).toContain('<code>domain web-1</code>');
    expect(s).toContain('<code>lb-reprotect-runbook_lab_reprotect_1</code>');
    expect(s).toContain('Protection Schedules resumed: lab-protection.');
    expect(s).not.toContain('Not cleaned up');
  });

  it('escapes every string it draws', () => {
    const fb = failbackEvidence().failback as FailbackEvidence;
    const hostile = failbackEvidence(2, {
      failback: {
        ...fb,
        boots: [{ vm: HOSTILE, boots: 1, line: HOSTILE }],
        cleanup: [{ vm: HOSTILE, site: HOSTILE, removed: [HOSTILE], detail: HOSTILE }],
        cleanupError: HOSTILE,
        finalReprotect: [{ ...fb.finalReprotect[0]!, pointId: HOSTILE, fullReason: HOSTILE }],
      },
    });
    const p = signedPage(hostile);
    const hs = section(p.input.html!.text);
    expect(hs).not.toContain('<script>');
    expect(hs).not.toContain('<img');
    expect(hs).toContain('&lt;script&gt;');
    expect(checkReport(p.input, KEY.ref).problems).toEqual([]);
  });

  it('a failback recorded without its facts (before they existed) draws no section, so older pages still verify', () => {
    const { failback: _f, ...bare } = failbackEvidence(3);
    const p = signedPage(bare as Evidence);
    expect(p.input.html!.text).not.toContain('id="failback"');
    expect(section(signedPage(drillEvidence()).input.html!.text)).toBe('');
  });

  it('summarises in a few lines for `report show` and `failback --wait`', () => {
    expect(failbackLines(failbackEvidence().failback!)).toEqual([
      expect.stringMatching(/^failback: downtime 1 min 35 s from 2026-/),
      'records lost: 0, 412 moved home, 1 disk(s) compared',
      'final reprotect: 67.0 MiB on the link for 2 VM(s), whole disks for web-1',
      'boots at the primary: db-1 3',
      expect.stringMatching(/^the primary's fence lifted at /),
      'cleaned up: failover VMs removed at the secondary (web-1), 1 reprotect bitmap(s) removed',
    ]);
  });
});

describe('buildEvidence for a failback', () => {
  const plan = diamondPlan();
  const T0 = Date.parse('2026-12-04T01:00:00Z');
  const progress: OperationProgress = {
    id: `runbook/${plan.runbook.name}/failback/1`,
    kind: 'failback',
    runbook: plan.runbook.name,
    planHash: plan.hash,
    state: 'succeeded',
    wave: plan.waves.length - 1,
    waves: plan.waves.length,
    startedAt: T0,
    endedAt: T0 + 90_000,
    groups: {},
    gates: [],
    pauses: [],
    decisions: [],
    compensations: { pending: 0, done: 0 },
  };
  const fb = (identical: boolean): FailbackEvidence => ({
    shutdown: [],
    finalReprotect: [],
    dataProof: [
      {
        vm: 'a-1',
        target: 'vdb',
        secondarySeq: 10,
        primarySeq: identical ? 10 : 7,
        lost: identical ? 0 : 3,
        identical,
      },
    ],
    recordsLost: identical ? 0 : 3,
    boots: [],
  });
  const build = (f: FailbackEvidence, extra: { healthyAt?: number } = {}) =>
    buildEvidence({
      plan,
      progress,
      outcome: 'succeeded',
      temporal: { namespace: 'default', workflowId: progress.id, runId: 'r' },
      startedBy: 'test',
      selector: 'final reprotect',
      targetSite: plan.sites.primary.name,
      network: 'production',
      checks: [],
      probes: [],
      failback: f,
      ...extra,
    });

  it('a failback that lost nothing has an RPO of zero, measured from the records compared, and passes', () => {
    const ev = build(fb(true), { healthyAt: T0 + 60_000 });
    expect(ev.type).toBe('failback');
    expect(ev.objectives.rpo).toMatchObject({ measuredMs: 0, pass: true });
    expect(ev.objectives.rpo.basis).toContain('read offline at both sites');
    expect(ev.failback?.recordsLost).toBe(0);
    expect([ev.verdict, ev.verdictReasons]).toEqual(['pass', []]);
  });

  it('records missing at the primary fail it, with how many; an unfinished cleanup is named', () => {
    const ev = build(
      { ...fb(false), cleanupError: 'a-1 at the secondary: refused' },
      { healthyAt: T0 + 60_000 },
    );
    expect(ev.verdict).toBe('fail');
    expect(ev.objectives.rpo.pass).toBe(false);
    expect(ev.verdictReasons).toEqual([
      '3 workload record(s) written at the secondary are not at the primary',
      'cleanup after the failback incomplete: a-1 at the secondary: refused',
    ]);
  });
});
