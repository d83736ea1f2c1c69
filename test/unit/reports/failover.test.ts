import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { bytesToBase64 } from '../../../approvals/encoding.ts';
import { envelopeText, type ReportEnvelope, signingBytes } from '../../../reports/envelope.ts';
import type { Evidence } from '../../../reports/evidence.ts';
import { renderReportHtml } from '../../../reports/html/page.ts';
import { failoverLines } from '../../../reports/summary.ts';
import { checkReport } from '../../../reports/verify.ts';
import { drillEvidence, failoverEvidence } from '../../fixtures/reports/evidence.ts';
import { chain, KEY, signedPage } from './helpers.ts';

const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&</script><!--';

/** The failover section's HTML alone. */
function section(html: string): string {
  const from = html.indexOf('<section id="failover">');
  return from < 0 ? '' : html.slice(from, html.indexOf('</section>', from) + '</section>'.length);
}

describe("a failover's report", () => {
  const planned = signedPage(failoverEvidence('planned'));
  const plannedHtml = planned.input.html!.text;
  const disaster = signedPage(failoverEvidence('disaster'));
  const disasterHtml = disaster.input.html!.text;

  it('puts the failover section right after the objectives, and the page still verifies', () => {
    const at = (s: string) => plannedHtml.indexOf(s);
    expect(at('id="objectives"')).toBeGreaterThan(0);
    expect(at('id="failover"')).toBeGreaterThan(at('id="objectives"'));
    expect(at('id="failover"')).toBeLessThan(at('id="timeline"'));
    expect(checkReport(planned.input, KEY.ref).problems).toEqual([]);
    expect(checkReport(disaster.input, KEY.ref).problems).toEqual([]);
  });

  it('a planned one shows its mode, downtime, shutdowns in order with the forced one warned, and the data proof', () => {
    const s = section(plannedHtml);
    expect(s).toContain('planned migration');
    expect(s).toContain(
      '3 min 46 s, from the first primary VM stopped to the last group healthy at the secondary',
    );
    expect(s).toContain('2026-11-20T09:00:04.000Z');
    expect(s).toContain('<code>c-20261120T090010Z</code>: <span class="ok">succeeded</span>');
    const vms = [
      ...s.matchAll(/<tr><td>((?:web|app|db)-\d)<\/td><td class="[^"]*">(guest agent|ACPI|forced)/g),
    ];
    expect(vms.map((m) => m[1])).toEqual(['web-1', 'app-2', 'app-1', 'db-1']);
    expect(s).toContain('<td>app-2</td><td class="other">forced off</td><td>yes</td>');
    expect(s).toContain('<td>db-1</td><td class="ok">guest agent</td>');
    expect(s).toMatch(/1 VM was forced off/);
    // VM, disk, primary's last record, point's last record, lost, identical.
    expect(s.slice(s.indexOf('Data proof')).match(/<tr><td>db-1<\/td>(.*?)<\/tr>/)?.[1]).toBe(
      '<td>vdb</td><td>48211</td><td>48211</td><td class="ok">0</td><td class="ok">yes</td>',
    );
    expect(s).toContain('<dt>Records lost</dt><dd><span class="ok">0</span></dd>');
    expect(s).toContain('<dt>Protection paused</dt><dd>lab-protection</dd>');
    expect(s).not.toContain('Fence of the primary');
    // Production VMs: no isolation probe or teardown is expected, and none is reported missing.
    expect(plannedHtml).toContain('None: a failover starts production VMs');
    expect(plannedHtml).not.toContain('No teardown proof was recorded');
    expect(s).not.toContain('Loss window');
  });

  it('a disaster one shows the fence, its enforcement per VM, the records lost toned bad, and the loss window', () => {
    const s = section(disasterHtml);
    expect(s).toContain('disaster: the primary fenced');
    expect(s).toContain(
      '<dt>By</dt><dd>bob</dd><dt>Why</dt><dd>site-a lost power, datacenter ticket INC-4471</dd>',
    );
    expect(s).toContain('<dt>Primary answered</dt><dd class="">no</dd>');
    expect(s).toContain('Enforced at site site-a at 2026-11-20T09:05:00.000Z');
    expect(s).toContain('<tr><td>app-1</td><td>was not running, autostart off</td></tr>');
    expect(s).toContain('<dt>Records lost</dt><dd><span class="bad">17</span></dd>');
    expect(s).toContain('<dt>Loss window</dt><dd>8.5 s</dd>');
    expect(s).toContain('read offline by its worker after the fence stopped the VMs');
    expect(s).toContain('<td class="bad">17</td><td class="bad">no</td>');
    expect(s).toContain('No primary VM was shut down by the failover');
    expect(s).toContain(
      '<dt>Downtime</dt><dd class="other">not measured: the failover stopped no primary VM',
    );
  });

  it('says a fence not enforced yet, a commit timeout kept, and which primary VMs a rollback restarted', () => {
    const base = failoverEvidence('disaster');
    const fo = base.failover!;
    const { enforced: _e, ...fence } = fo.fence!;
    const s = section(
      signedPage(
        failoverEvidence('disaster', 2, {
          failover: { ...fo, fence, commitTimeoutKept: true },
        }),
      ).input.html!.text,
    );
    expect(s).toContain('Not enforced yet');
    expect(s).toContain('The commit window ran out: the failover was kept running at the secondary');

    const p = failoverEvidence('planned');
    const rolled = section(
      signedPage(
        failoverEvidence('planned', 3, {
          outcome: 'rolled-back',
          failover: {
            ...p.failover!,
            protection: { paused: ['lab-protection'], resumed: ['lab-protection'] },
            primaryRestarted: [
              { vm: 'db-1', ok: true, detail: 'started', at: '2026-11-20T09:06:00.000Z' },
              { vm: 'app-2', ok: false, detail: 'domain app-2 is fenced', at: '2026-11-20T09:06:01.000Z' },
            ],
          },
        }),
      ).input.html!.text,
    );
    expect(rolled).toContain('Primary VMs restarted by the rollback');
    expect(rolled).toContain('<td>app-2</td><td class="bad">NOT started</td><td>domain app-2 is fenced</td>');
    expect(rolled).toContain('<dt>Protection resumed</dt><dd>lab-protection</dd>');
  });

  it('loads nothing from anywhere', () => {
    for (const html of [plannedHtml, disasterHtml]) {
      expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
      expect(html).not.toMatch(/<script(?![^>]*type="application\/json")/i);
      expect(html).not.toMatch(/<link|@import|url\(/i);
    }
  });

  it('escapes a hostile VM name, reason, cycle error and fence detail, and still verifies', () => {
    const fo = failoverEvidence('disaster').failover!;
    const h = signedPage(
      failoverEvidence('disaster', 4, {
        failover: {
          ...fo,
          shutdown: [{ vm: HOSTILE, method: 'forced', wasRunning: true, at: '2026-11-20T09:00:05.000Z' }],
          finalCycle: { cycleId: HOSTILE, outcome: HOSTILE, error: HOSTILE },
          dataProof: fo.dataProof.map((d) => ({ ...d, vm: HOSTILE, target: HOSTILE })),
          recordsLostFrom: HOSTILE,
          fence: {
            ...fo.fence!,
            by: HOSTILE,
            reason: HOSTILE,
            detail: HOSTILE,
            enforced: { ...fo.fence!.enforced!, site: HOSTILE, vms: [{ vm: HOSTILE, detail: HOSTILE }] },
          },
          protection: { paused: [HOSTILE], error: HOSTILE },
          primaryRestarted: [{ vm: HOSTILE, ok: false, detail: HOSTILE, at: '2026-11-20T09:06:00.000Z' }],
        },
      }),
    );
    const page = h.input.html!.text;
    const s = section(page);
    expect(s).not.toContain('<script');
    expect(s).not.toContain('<img');
    expect(s.split('&lt;script&gt;alert(1)&lt;/script&gt;').length - 1).toBeGreaterThanOrEqual(14);
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page.match(/<\/script>/g)).toHaveLength(1);
    expect(checkReport(h.input, KEY.ref).problems).toEqual([]);
  });
});

describe("a drill's report", () => {
  it('has no failover section', () => {
    const [d] = chain(1);
    expect(d!.input.html!.text).not.toContain('id="failover"');
    expect(signedPage(drillEvidence(5)).input.html!.text).not.toContain('id="failover"');
  });
});

/** A report signed by the renderer before the failover section (/1), with the page given. */
function signedByRenderer1(evidence: Evidence, page: (html: string) => string) {
  const current = signedPage(evidence).envelope;
  const { signature: _s, evidence: _e, ...header } = current;
  const old = { ...header, renderer: 'lifeboat-report-html/1' };
  const signature = bytesToBase64(ed25519.sign(signingBytes(old), KEY.secretKey));
  const envelope: ReportEnvelope = { ...old, signature, evidence };
  const text = envelopeText(envelope);
  return {
    file: `${envelope.type}-${envelope.n}.json`,
    text,
    html: { file: `${envelope.type}-${envelope.n}.html`, text: page(renderReportHtml(envelope)) },
  };
}

describe('verifying pages of the renderer before the failover section', () => {
  it("still compares a drill's page (drawn the same), and accepts a failover's page without the section", () => {
    const drill = signedByRenderer1(drillEvidence(6), (h) => h);
    expect(checkReport(drill, KEY.ref).problems).toEqual([]);
    const altered = signedByRenderer1(drillEvidence(6), (h) => h.replace('PASS</span>', 'PASS!</span>'));
    expect(checkReport(altered, KEY.ref).problems.map((p) => p.code)).toEqual(['HTML_ALTERED']);
    const failover = signedByRenderer1(failoverEvidence('planned'), (h) => h.replace(section(h), ''));
    expect(checkReport(failover, KEY.ref).problems).toEqual([]);
  });
});

describe("a failover's text summary", () => {
  it('a planned one: mode, downtime, no record lost, the final cycle, the forced shutdown', () => {
    expect(failoverLines(failoverEvidence('planned').failover!)).toEqual([
      'failover (planned): downtime 3 min 46 s from 2026-11-20T09:00:04.000Z',
      'records lost: 0, 1 disk(s) compared',
      'final cycle c-20261120T090010Z: succeeded',
      'forced off at the primary: app-2',
    ]);
  });

  it('a disaster one: records lost over the window and where counted, the fence and its enforcement', () => {
    const lines = failoverLines(failoverEvidence('disaster').failover!);
    expect(lines[0]).toBe(
      'failover (disaster): downtime not measured (no primary VM stopped by the failover)',
    );
    expect(lines[1]).toBe(
      "records lost: 17 over 8.5 s, 1 disk(s) compared, 1 not identical (the primary's data disks, read offline by its worker after the fence stopped the VMs)",
    );
    expect(lines[2]).toBe(
      'fence: by bob at 2026-11-20T09:00:01.000Z, primary did not answer, enforced at site-a 2026-11-20T09:05:00.000Z: site-a lost power, datacenter ticket INC-4471',
    );
    const fo = failoverEvidence('disaster').failover!;
    const { fence: _f, ...noFence } = fo;
    expect(failoverLines({ ...noFence, commitTimeoutKept: true })).toEqual(
      expect.arrayContaining([
        'fence: none recorded',
        'commit window ran out: kept running at the secondary (no primary to roll back to); commit it',
      ]),
    );
  });
});
