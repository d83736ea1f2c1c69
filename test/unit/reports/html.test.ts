import { describe, expect, it } from 'vitest';
import { renderIndexHtml } from '../../../reports/html/history.ts';
import { summarize } from '../../../reports/summary.ts';
import { checkReport } from '../../../reports/verify.ts';
import { chain, KEY } from './helpers.ts';

const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&</script><!--';

describe('the report page', () => {
  const [r] = chain(1);
  const html = r!.input.html!.text;

  it('puts the verdict first, then objectives, timeline and the auditors map', () => {
    const at = (s: string) => html.indexOf(s);
    expect(at('id="verdict"')).toBeGreaterThan(0);
    expect(at('id="verdict"')).toBeLessThan(at('id="objectives"'));
    expect(at('id="objectives"')).toBeLessThan(at('id="timeline"'));
    expect(html).toContain('Verdict: <span class="verdict-word">PASS</span>');
    for (const ref of ['ISO 22301', 'clause 8.5', 'A1.3', 'CP-4', 'Art. 11', 'Art. 12'])
      expect(html).toContain(ref);
    expect(html).toMatch(/<svg class="gantt"[^>]*>.*db-1.*app-2.*web-1/s);
  });

  it('loads nothing from anywhere: no http(s) src or href, no external script, a CSP that forbids loads', () => {
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/<script(?![^>]*type="application\/json")/i);
    expect(html).not.toMatch(/<link|@import|url\(/i);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes hostile strings from the evidence everywhere, and still verifies', () => {
    const [h] = chain(1, KEY, (ev) => ({
      ...ev,
      startedBy: HOSTILE,
      verdict: 'fail',
      verdictReasons: [HOSTILE],
      deviations: [{ what: HOSTILE, reason: HOSTILE }],
      checks: ev.checks.map((c) => ({ ...c, output: HOSTILE, vm: HOSTILE })),
      scope: { ...ev.scope, groups: ev.scope.groups.map((g) => ({ ...g, name: HOSTILE })) },
    }));
    const page = h!.input.html!.text;
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // Exactly one script element: the embedded report, which no `</script>` inside it can end early.
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page.match(/<\/script>/g)).toHaveLength(1);
    expect(checkReport(h!.input, KEY.ref).problems).toEqual([]);
  });

  it('shows FAIL and its reasons for a failed drill', () => {
    const [f] = chain(1, KEY, (ev) => ({
      ...ev,
      verdict: 'fail',
      verdictReasons: ['RTO 20 min exceeds the objective 15 min'],
    }));
    expect(f!.input.html!.text).toContain('FAIL</span>');
    expect(f!.input.html!.text).toContain('RTO 20 min exceeds the objective 15 min');
  });
});

describe('the history page', () => {
  const c = chain(3);
  const rows = c.map((x) => summarize(x.envelope, `drill-${x.envelope.n}.json`, x.sha256));

  it('says the current Plan has a passing drill, and charts RTO and RPO', () => {
    const page = renderIndexHtml('lab', rows, rows[0]!.planHash);
    expect(page).toContain('has a passing drill');
    expect(page).toMatch(/<svg class="chart".*<polyline class="ln rto"/s);
    expect(page).toContain('href="drill-3.html"');
  });

  it('says "needs a drill" once the runbook was edited since its last passing drill', () => {
    expect(renderIndexHtml('lab', rows, 'f'.repeat(64))).toContain('Needs a drill');
    expect(renderIndexHtml('lab', rows)).toContain('was not given');
  });
});
