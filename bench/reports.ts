/**
 * Reports at scale: the evidence of a 10,000-VM drill signed, rendered and verified. Figures go
 * to bench/results/reports.json; targets from the issue: render ≤ 2 s, verify ≤ 2 s, page ≤ 5 MB.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { renderReportHtml } from '../reports/html/page.ts';
import { reportKeyFromSecret, signReport } from '../reports/signing.ts';
import { verifyChain } from '../reports/verify.ts';
import { generateEvidence } from './gen-evidence.ts';

const VMS = 10_000;
const RUNS = 3;
const key = reportKeyFromSecret(new Uint8Array(32).fill(5));
const evidence = generateEvidence(VMS);
const evidenceBytes = Buffer.byteLength(JSON.stringify(evidence));

const round = (n: number) => Math.round(n * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const signMs: number[] = [];
const renderMs: number[] = [];
const verifyMs: number[] = [];
let html = '';
let fileBytes = 0;
for (let i = 0; i < RUNS; i++) {
  let t = performance.now();
  const signed = signReport({
    evidence,
    id: { runbook: 'big', type: 'drill', n: 1 },
    previous: null,
    key,
    signedAt: '2026-11-20T10:00:00.000Z',
  });
  signMs.push(performance.now() - t);
  fileBytes = Buffer.byteLength(signed.text);
  t = performance.now();
  html = renderReportHtml(signed.envelope);
  renderMs.push(performance.now() - t);
  t = performance.now();
  const r = verifyChain(
    [{ file: 'drill-1.json', text: signed.text, html: { file: 'drill-1.html', text: html } }],
    key.ref,
    {
      head: { id: signed.envelope.id, sha256: signed.sha256 },
    },
  );
  verifyMs.push(performance.now() - t);
  if (!r.ok) throw new Error(`verify failed: ${JSON.stringify(r.problems.slice(0, 2))}`);
}
const htmlBytes = Buffer.byteLength(html);
const result = {
  benchmark: 'reports',
  date: new Date().toISOString(),
  node: process.version,
  machine: { cpus: cpus().length, loadAverage1m: round(loadavg()[0] ?? 0) },
  input: {
    vms: VMS,
    groups: evidence.scope.groups.length,
    evidenceJsonBytes: evidenceBytes,
    reportFileBytes: fileBytes,
  },
  signMs: { median: round(median(signMs)), runs: RUNS },
  renderMs: { first: round(renderMs[0] ?? 0), median: round(median(renderMs)), runs: RUNS },
  targetRenderMs: 2000,
  verifyMs: {
    first: round(verifyMs[0] ?? 0),
    median: round(median(verifyMs)),
    runs: RUNS,
    includes: 'parse, canonical check, digest, signature, page re-render and comparison, embedded report',
  },
  targetVerifyMs: 2000,
  htmlBytes,
  targetHtmlBytes: 5 * 1024 * 1024,
  peakRssMb: round(process.resourceUsage().maxRSS / 1024),
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/reports.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
