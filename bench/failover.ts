/**
 * Failover figures on the lab runbook (4 VMs, 3 waves, TCG), each failover rolled back so the lab
 * is left as it was found:
 *  - planned migration downtime: first primary VM stopped to the last secondary group healthy
 *    (the evidence's `downtimeMs`), and the wall time to `waiting-commit`;
 *  - disaster RTO: seconds from the request to the first VM started at the secondary (evidence
 *    timeline), and the evidence's RTO (request to every group healthy), with the primary
 *    answering (the fence is enforced by its worker within the failover's wait).
 * No floor yet (the drill bench's floor builds the same VMs on the bubble; a failover's floor is
 * the same builds on the production network), and no kill-point loop yet: both are listed as
 * missing in the results. Targets are reported, never asserted. Writes bench/results/failover.json.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { publicKeyLine } from '../approvals/keys.ts';
import {
  commitFailover,
  decideGate,
  operationProgress,
  operationResult,
  startOperation,
} from '../cli/runbook-client.ts';
import { connectForCommand } from '../cli/with-client.ts';
import { DEFAULT_LAB_RUNBOOK } from '../lab/runbook.ts';
import { REPO_ROOT } from '../platform/home.ts';
import { parseEvidence } from '../reports/evidence.ts';
import { loadRunbook } from '../runbooks/index.ts';
import type { OperationOptions } from '../workflows/types.ts';

const pexec = promisify(execFile);
const CLI = path.join(REPO_ROOT, 'bin', 'lifeboat.mjs');
const lifeboat = (...args: string[]) =>
  pexec(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
const load = () => Number(loadavg()[0]?.toFixed(2));
// The lab runbook's example operator (its key is derived from a public seed: lab.yaml says so);
// the web tier's gate is approved as soon as it opens, so the figures hold no human wait.
const aliceSecret = new Uint8Array(createHash('sha256').update('lifeboat-example-alice').digest());
const alice = {
  name: 'alice',
  secretKey: aliceSecret,
  publicKey: publicKeyLine(ed25519.getPublicKey(aliceSecret)),
};

const loaded = await loadRunbook(DEFAULT_LAB_RUNBOOK);
if (!loaded.plan) throw new Error('lab.yaml does not compile');
const plan = loaded.plan;

await lifeboat('server', 'start');
await lifeboat('lab', 'up');
const { client, connection } = await connectForCommand();

async function oneFailover(options: OperationOptions) {
  await lifeboat('replicate', '--wait', DEFAULT_LAB_RUNBOOK);
  const t0 = Date.now();
  const op = await startOperation(client, { plan, kind: 'failover', options, requestedBy: 'bench' });
  for (;;) {
    const p = await operationProgress(client, op.id);
    if (p.state === 'waiting-commit') break;
    for (const g of p.gates) {
      await decideGate(client, {
        runbook: plan.runbook.name,
        stepId: g.stepId,
        decision: 'approve',
        reason: 'bench',
        key: alice,
      }).catch(() => undefined);
    }
    if (['failed', 'rolled-back', 'cancelled', 'succeeded'].includes(p.state))
      throw new Error(`${op.id} ended ${p.state}: ${p.error}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const upMs = Date.now() - t0;
  await commitFailover(client, { operationId: op.id, decision: 'rollback', reason: 'bench' });
  const r = await operationResult(client, { id: op.id, kind: 'failover', runbook: plan.runbook.name });
  if (!r.evidencePath) throw new Error(`${op.id} gave no evidence (${r.outcome}: ${r.error})`);
  const e = parseEvidence(JSON.parse(readFileSync(r.evidencePath, 'utf8')), r.evidencePath);
  const vmStarts = e.timeline.filter((x) => x.kind === 'vm').map((x) => Date.parse(x.startedAt));
  return {
    id: op.id,
    outcome: r.outcome,
    secondsToWaitingCommit: upMs / 1000,
    secondsToFirstVmStarted: vmStarts.length > 0 ? (Math.min(...vmStarts) - t0) / 1000 : null,
    rtoMs: e.objectives.rto.measuredMs ?? null,
    downtimeMs: e.failover?.downtimeMs ?? null,
    recordsLost: e.failover?.recordsLost ?? null,
    shutdown: e.failover?.shutdown.map((s) => `${s.vm}: ${s.method}`) ?? [],
  };
}

const loadBefore = load();
let planned: Awaited<ReturnType<typeof oneFailover>>;
let disaster: Awaited<ReturnType<typeof oneFailover>>;
try {
  planned = await oneFailover({ mode: 'planned', shutdownDeadlineMs: 60_000 });
  disaster = await oneFailover({ mode: 'disaster' });
} finally {
  await connection.close();
}
const results = {
  when: new Date().toISOString(),
  runbook: 'runbooks/examples/lab.yaml (4 VMs, 3 waves, TCG)',
  load1Before: loadBefore,
  planned: { ...planned, note: 'downtime: first primary VM stopped to the last secondary group healthy' },
  disaster: { ...disaster, note: 'primary answering; RTO: request to every group healthy' },
  targets: {
    rto: { measuredMs: disaster.rtoMs, targetMs: plan.objectives.rtoMs },
  },
  missing: [
    'the floor (plain builds of the same VMs on the production network) measured in the same run',
    'the kill-point loop (orchestrator worker SIGKILLed at each wave, before and after each VM start)',
  ],
};
mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  path.join(REPO_ROOT, 'bench', 'results', 'failover.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
