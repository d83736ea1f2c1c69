import { describe, expect, it } from 'vitest';
import { embeddedText } from '../../../reports/html/embed.ts';
import { renderReportHtml } from '../../../reports/html/page.ts';
import { signReport } from '../../../reports/signing.ts';
import { verifyChain } from '../../../reports/verify.ts';
import { drillEvidence } from '../../fixtures/reports/evidence.ts';
import { chain, KEY, OTHER_KEY } from './helpers.ts';

const flip = (text: string, at: number) =>
  text.slice(0, at) + (text[at] === 'a' ? 'b' : 'a') + text.slice(at + 1);

describe('verifying signed reports', () => {
  it('accepts a chain rendered, signed and read back unchanged', () => {
    const c = chain(3);
    const r = verifyChain(
      c.map((x) => x.input),
      KEY.ref,
      { head: { id: c[2]!.envelope.id, sha256: c[2]!.sha256 } },
    );
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.headChecked).toBe(true);
    expect(r.reports.map((x) => x.file)).toEqual(['drill-1.json', 'drill-2.json', 'drill-3.json']);
  });

  it('names the file when one byte of the evidence in the JSON changes', () => {
    const c = chain(3);
    const at = c[1]!.text.indexOf('"owner"') + 12;
    c[1]!.input.text = flip(c[1]!.text, at);
    const r = verifyChain(
      c.map((x) => x.input),
      KEY.ref,
    );
    expect(r.ok).toBe(false);
    expect(r.problems[0]?.file).toBe('drill-2.json');
    expect(r.problems.map((p) => p.code)).toContain('EVIDENCE_DIGEST');
    // The next report's link no longer matches either.
    expect(r.problems.some((p) => p.code === 'CHAIN_BROKEN' && p.file === 'drill-3.json')).toBe(true);
  });

  it('names the file when only the formatting of the JSON changes', () => {
    const c = chain(1);
    c[0]!.input.text = c[0]!.text.replace('{\n  "apiVersion"', '{\n "apiVersion"');
    const r = verifyChain(
      c.map((x) => x.input),
      KEY.ref,
    );
    expect(r.problems.map((p) => [p.code, p.file])).toContainEqual(['NOT_CANONICAL', 'drill-1.json']);
  });

  it("names the page when one byte of the HTML's embedded evidence changes", () => {
    const c = chain(2);
    const html = c[0]!.input.html!.text;
    const at = html.indexOf('"startedBy": "alice"', html.indexOf('id="lifeboat-evidence"')) + 16;
    c[0]!.input.html!.text = flip(html, at);
    const r = verifyChain(
      c.map((x) => x.input),
      KEY.ref,
    );
    expect(r.problems.map((p) => [p.code, p.file])).toEqual([['HTML_EMBED', 'drill-1.html']]);
  });

  it('names the page when what it shows was edited and its embedded report was not', () => {
    const c = chain(1);
    c[0]!.input.html!.text = c[0]!.input
      .html!.text.replace('every check passed', 'every check passed!')
      .replace('Every objective', 'Each objective');
    const r = verifyChain(
      c.map((x) => x.input),
      KEY.ref,
    );
    expect(r.problems.map((p) => [p.code, p.file])).toEqual([['HTML_ALTERED', 'drill-1.html']]);
  });

  it('names the file when one byte of the signature changes', () => {
    const c = chain(2);
    const sig = c[1]!.envelope.signature;
    const changed = sig.startsWith('A') ? `B${sig.slice(1)}` : `A${sig.slice(1)}`;
    c[1]!.input.text = c[1]!.text.replace(sig, changed);
    const r = verifyChain(
      c.map((x) => x.input),
      KEY.ref,
    );
    expect(r.problems[0]).toMatchObject({ code: 'BAD_SIGNATURE', file: 'drill-2.json' });
  });

  it('finds a removed middle report as a broken link at the next one', () => {
    const c = chain(3);
    const r = verifyChain([c[0]!.input, c[2]!.input], KEY.ref);
    expect(r.problems[0]).toMatchObject({ code: 'CHAIN_BROKEN', file: 'drill-3.json' });
    expect(r.problems[0]?.message).toContain('runbook/lab/drill/2');
  });

  it("catches a removed newest report against the controller's head, and says when no head was checked", () => {
    const c = chain(3);
    const head = { id: c[2]!.envelope.id, sha256: c[2]!.sha256 };
    const r = verifyChain([c[0]!.input, c[1]!.input], KEY.ref, { head });
    expect(r.problems[0]).toMatchObject({ code: 'HEAD_MISSING', id: 'runbook/lab/drill/3' });
    const unchecked = verifyChain([c[0]!.input, c[1]!.input], KEY.ref, {
      reason: 'head not checked: no server',
    });
    expect(unchecked.ok).toBe(true);
    expect(unchecked.headChecked).toBe(false);
    expect(unchecked.headReason).toContain('not checked');
  });

  it('refuses a report re-signed with another key unless that key is the trusted one', () => {
    const c = chain(1, OTHER_KEY);
    expect(verifyChain([c[0]!.input], KEY.ref).problems.map((p) => p.code)).toEqual(['KEY_NOT_TRUSTED']);
    expect(verifyChain([c[0]!.input], OTHER_KEY.ref).ok).toBe(true);
  });

  it('refuses a fork: two reports claiming the same previous', () => {
    const a = chain(2);
    const forged = signReport({
      evidence: drillEvidence(9),
      id: { runbook: 'lab', type: 'drill', n: 9 },
      previous: { id: a[0]!.envelope.id, sha256: a[0]!.sha256 },
      key: KEY,
      signedAt: '2026-11-29T10:00:00.000Z',
    });
    const page = { file: 'drill-9.html', text: renderReportHtml(forged.envelope) };
    const r = verifyChain(
      [...a.map((x) => x.input), { file: 'drill-9.json', text: forged.text, html: page }],
      KEY.ref,
    );
    expect(r.problems.map((p) => [p.code, p.file])).toEqual([['CHAIN_FORK', 'drill-9.json']]);
  });

  it('embeds the exact signed file in the page', () => {
    const c = chain(1);
    expect(embeddedText(c[0]!.input.html!.text)).toEqual({ text: c[0]!.text });
  });
});
