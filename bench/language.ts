/**
 * The runbook language at scale: a generated runbook of 10,000 VMs in 500 groups with random
 * dependsOn, checked and compiled. Figures go to bench/results/language.json; targets from the
 * issue: under 1 s and under 300 MB RSS, Plan JSON under Temporal's 2 MB payload limit.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { compileRunbookText } from '../runbooks/index.ts';
import { generateRunbook } from './gen-runbook.ts';

const VMS = 10_000;
const GROUPS = 500;
const RUNS = 5;
const PAYLOAD_LIMIT = 2 * 1024 * 1024;

const text = generateRunbook({ vms: VMS, groups: GROUPS, seed: 42 });
const rssBeforeMb = process.memoryUsage().rss / 1024 / 1024;
const timesMs: number[] = [];
let planBytes = 0;
let waves = 0;
let findings = 0;
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  const r = compileRunbookText(text, 'generated.yaml');
  timesMs.push(performance.now() - start);
  if (!r.plan)
    throw new Error(`generated runbook does not compile: ${JSON.stringify(r.findings.slice(0, 3))}`);
  planBytes = Buffer.byteLength(JSON.stringify(r.plan));
  waves = r.plan.waves.length;
  findings = r.findings.length;
}
// maxRSS is the process's peak in KiB, so it covers the run above including the tsx loader.
const peakRssMb = process.resourceUsage().maxRSS / 1024;
const sorted = [...timesMs].sort((a, b) => a - b);
const round = (n: number) => Math.round(n * 10) / 10;
const result = {
  benchmark: 'language',
  date: new Date().toISOString(),
  node: process.version,
  // The machine is shared: the load average says how much of it this run had.
  machine: { cpus: cpus().length, loadAverage1m: round(loadavg()[0] ?? 0) },
  input: { vms: VMS, groups: GROUPS, runbookBytes: Buffer.byteLength(text), waves, findings },
  validateCompileMs: {
    first: round(timesMs[0] ?? 0),
    median: round(sorted[Math.floor(RUNS / 2)] ?? 0),
    runs: RUNS,
  },
  targetMs: 1000,
  peakRssMb: round(peakRssMb),
  rssBeforeRunsMb: round(rssBeforeMb),
  targetRssMb: 300,
  planJsonBytes: planBytes,
  payloadLimitBytes: PAYLOAD_LIMIT,
  planShareOfPayloadLimit: round((planBytes / PAYLOAD_LIMIT) * 100) / 100,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/language.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
