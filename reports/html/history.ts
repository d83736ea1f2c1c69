/**
 * The runbook's history page (`index.html`): whether the current Plan has a passing drill, RTO
 * and RPO of each run over time as an inline SVG chart, and every report. Pure. Derived from the
 * reports and not signed itself: verify the reports it links to.
 */
import { drillStatus, type ReportSummary } from '../summary.ts';
import { esc } from './escape.ts';
import { duration } from './format.ts';
import { pageHead } from './page.ts';

const W = 960;
const H = 260;
const PAD = { l: 60, r: 20, t: 20, b: 40 };

function chart(rows: ReportSummary[]): string {
  if (rows.length === 0) return '<p>No reports yet.</p>';
  const times = rows.map((r) => Date.parse(r.startedAt));
  const t0 = Math.min(...times);
  const t1 = Math.max(t0 + 1, ...times);
  const values = rows.flatMap((r) => [r.rtoMs ?? 0, r.rpoMs ?? 0, r.rtoTargetMs, r.rpoTargetMs]);
  const vmax = Math.max(1000, ...values) * 1.1;
  const x = (t: number) =>
    rows.length === 1 ? (PAD.l + W - PAD.r) / 2 : PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / vmax) * (H - PAD.t - PAD.b);
  const out: string[] = [
    `<svg class="chart" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><title>RTO and RPO of each run</title>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (vmax / 4) * i;
    out.push(
      `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eaeef2"/><text x="4" y="${(y(v) + 4).toFixed(1)}">${duration(v)}</text>`,
    );
  }
  const last = rows.at(-1) as ReportSummary;
  for (const [name, target] of [
    ['rto', last.rtoTargetMs],
    ['rpo', last.rpoTargetMs],
  ] as const) {
    out.push(
      `<line class="ln ${name} target" x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(target).toFixed(1)}" y2="${y(target).toFixed(1)}"/><text x="${W - PAD.r - 110}" y="${(y(target) - 4).toFixed(1)}">${name.toUpperCase()} target</text>`,
    );
    const pts = rows.filter((r) => (name === 'rto' ? r.rtoMs : r.rpoMs) !== undefined);
    const coords = pts.map(
      (r) =>
        `${x(Date.parse(r.startedAt)).toFixed(1)},${y((name === 'rto' ? r.rtoMs : r.rpoMs) ?? 0).toFixed(1)}`,
    );
    if (coords.length > 1) out.push(`<polyline class="ln ${name}" points="${coords.join(' ')}"/>`);
    pts.forEach((r, i) => {
      const [cx, cy] = (coords[i] as string).split(',');
      const v = name === 'rto' ? r.rtoMs : r.rpoMs;
      out.push(
        `<circle class="pt ${r.verdict === 'pass' ? 'ok' : 'bad'}" cx="${cx}" cy="${cy}" r="4"><title>${esc(r.id)}: ${name.toUpperCase()} ${duration(v)}, ${r.verdict}</title></circle>`,
      );
    });
  }
  out.push(
    `<text x="${PAD.l}" y="${H - 8}">${esc(rows[0]?.startedAt.slice(0, 10))}</text><text x="${W - PAD.r - 70}" y="${H - 8}">${esc(last.startedAt.slice(0, 10))}</text>`,
  );
  out.push(`<text x="${W / 2 - 120}" y="${H - 8}">blue: RTO, purple: RPO; dashed: targets</text></svg>`);
  return out.join('');
}

function statusBlock(rows: ReportSummary[], currentPlanHash: string | undefined): string {
  const s = drillStatus(rows, currentPlanHash);
  const short = (h: string) => esc(h.slice(0, 12));
  if (s.state === 'current') {
    return `<p id="drill-status" class="verdict v-ok">The current Plan <code>${short(s.passing.planHash)}</code> has a passing drill: <a href="${esc(s.passing.file.replace(/\.json$/, '.html'))}">${esc(s.passing.id)}</a> on ${esc(s.passing.startedAt)}.</p>`;
  }
  const last = s.lastPassing
    ? `the last passing drill, ${esc(s.lastPassing.id)} on ${esc(s.lastPassing.startedAt)}, ran Plan <code>${short(s.lastPassing.planHash)}</code>`
    : 'no drill has passed yet';
  if (s.state === 'needs-drill') {
    return `<p id="drill-status" class="needs"><b>Needs a drill:</b> the current Plan <code>${short(currentPlanHash ?? '')}</code> has no passing drill; ${last}.</p>`;
  }
  return `<p id="drill-status" class="note">The current Plan hash was not given, so whether it has a passing drill is unknown; ${last}.</p>`;
}

export function renderIndexHtml(runbook: string, history: ReportSummary[], currentPlanHash?: string): string {
  const rows = [...history].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const table = rows
    .slice()
    .reverse()
    .map(
      (r) =>
        `<tr><td><a href="${esc(r.file.replace(/\.json$/, '.html'))}">${esc(r.id)}</a></td><td class="${r.verdict === 'pass' ? 'ok' : 'bad'}">${r.verdict.toUpperCase()}</td><td>${esc(r.outcome)}</td><td>${esc(r.startedAt)}</td><td>${duration(r.rtoMs)} / ${duration(r.rtoTargetMs)}</td><td>${duration(r.rpoMs)} / ${duration(r.rpoTargetMs)}</td><td><code>${esc(r.planHash.slice(0, 12))}</code></td><td><code>${esc(r.sha256.slice(0, 12))}</code></td></tr>`,
    );
  return `${pageHead(`Reports of runbook ${runbook} (Lifeboat)`)}<body><main><h1>Reports of runbook ${esc(runbook)}</h1>${statusBlock(rows, currentPlanHash)}<section id="history"><h2>RTO and RPO over time</h2>${chart(rows)}</section><section id="reports"><h2>Every report</h2><table><thead><tr><th>Report</th><th>Verdict</th><th>Outcome</th><th>Started</th><th>RTO measured / target</th><th>RPO measured / target</th><th>Plan</th><th>File sha256</th></tr></thead><tbody>${table.join('')}</tbody></table><p class="note">This page is derived from the signed reports and is not signed itself: check them with <code>lifeboat report verify</code>.</p></section></main></body></html>\n`;
}
