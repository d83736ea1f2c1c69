import { describe, expect, it } from 'vitest';
import type { RestorePreflightResult, TeardownProofResult } from '../../../activities/index.ts';
import { evidenceSchema } from '../../../reports/evidence.ts';
import { buildEvidence, type EvidenceInput } from '../../../workflows/evidence.ts';
import type { OperationProgress } from '../../../workflows/types.ts';
import { diamondPlan } from '../../support/plans.ts';

const T0 = Date.parse('2026-12-04T01:00:00Z');
const plan = diamondPlan();
const sha = 'a'.repeat(64);

function progress(): OperationProgress {
  return {
    id: `runbook/${plan.runbook.name}/drill/3`,
    kind: 'drill',
    runbook: plan.runbook.name,
    planHash: plan.hash,
    state: 'succeeded',
    wave: plan.waves.length - 1,
    waves: plan.waves.length,
    startedAt: T0,
    endedAt: T0 + 90_000,
    groups: Object.fromEntries(
      plan.groups.map((g) => [
        g.name,
        {
          name: g.name,
          wave: g.wave,
          state: 'succeeded' as const,
          startedAt: T0 + 5_000 + g.wave * 20_000,
          endedAt: T0 + 20_000 + g.wave * 20_000,
          vms: Object.fromEntries(
            g.vms.map((v) => [
              v.name,
              {
                state: 'done' as const,
                startedAt: T0 + 5_000 + g.wave * 20_000,
                endedAt: T0 + 9_000 + g.wave * 20_000,
              },
            ]),
          ),
        },
      ]),
    ),
    gates: [],
    pauses: [],
    decisions: [],
    compensations: { pending: 4, done: 4 },
  };
}

const preflight: RestorePreflightResult = {
  pointId: '20261204T005800Z-7',
  capturedAt: new Date(T0 - 120_000).toISOString(),
  prefix: 'lb-drill-x-3-',
  before: [{ vm: 'a-1', pointId: '20261204T005800Z-7', file: 'vda.qcow2', sha256: sha, size: 1 }],
  points: plan.groups.flatMap((g) =>
    g.vms.map((v) => ({
      vm: v.name,
      pointId: '20261204T005800Z-7',
      checkpointAt: new Date(T0 - 120_000).toISOString(),
      committedAt: new Date(T0 - 110_000).toISOString(),
      consistency: { requested: 'crash' as const, achieved: 'crash' as const },
      integrity: { state: 'not-yet' as const },
      kind: 'incremental' as const,
      domain: `lb-drill-x-3-${v.name}`,
      records: [],
    })),
  ),
};
const proof = (holds: boolean): TeardownProofResult => ({
  facts: [
    { fact: 'no domain named lb-drill-x-3-*', holds: true, detail: 'none' },
    {
      fact: 'replica files unchanged (1 files, sha256 before and after)',
      holds,
      detail: holds ? 'every digest equal' : 'changed',
    },
  ],
  after: [
    {
      vm: 'a-1',
      pointId: '20261204T005800Z-7',
      file: 'vda.qcow2',
      sha256: holds ? sha : 'b'.repeat(64),
      size: 1,
    },
  ],
  proven: holds,
  at: new Date(T0 + 95_000).toISOString(),
});

const input = (over: Partial<EvidenceInput> = {}): EvidenceInput => ({
  plan,
  progress: progress(),
  outcome: 'succeeded',
  temporal: { namespace: 'default', workflowId: `runbook/${plan.runbook.name}/drill/3`, runId: 'r' },
  startedBy: 'alice@host',
  selector: 'latest',
  targetSite: plan.sites.secondary.name,
  network: 'bubble',
  preflight,
  preflightEndedAt: T0 + 2_000,
  checks: [
    {
      id: 'a/check/0',
      group: 'a',
      vm: 'a-1',
      kind: 'agent',
      outcome: 'passed',
      output: 'ok',
      attempts: 1,
      startedAt: T0 + 9_000,
      endedAt: T0 + 10_000,
    },
  ],
  probes: [
    {
      vm: 'a-1',
      domain: 'lb-drill-x-3-a-1',
      target: '192.168.100.10',
      method: 'arping -D',
      outcome: 'isolated',
      detail: 'exit 0',
      at: new Date(T0 + 10_000).toISOString(),
    },
  ],
  proof: proof(true),
  healthyAt: T0 + 70_000,
  ...over,
});

describe('buildEvidence', () => {
  it('a clean drill passes, validates against the schema, and measures RTO and RPO from its own times', () => {
    const e = buildEvidence(input());
    expect(evidenceSchema.safeParse(e).success).toBe(true);
    expect(e.verdict).toBe('pass');
    expect(e.verdictReasons).toEqual([]);
    expect(e.objectives.rto).toMatchObject({ measuredMs: 70_000, pass: true });
    expect(e.objectives.rpo).toMatchObject({ measuredMs: 120_000, pass: true });
    expect(e.timeline.filter((t) => t.kind === 'wave')).toHaveLength(plan.waves.length);
    expect(e.replicaIntegrity?.unchanged).toBe(true);
  });
  it('fails, saying why, on a changed replica, a reachable production, a failed check or a missed objective', () => {
    const e = buildEvidence(
      input({
        proof: proof(false),
        probes: [{ ...input().probes[0]!, outcome: 'reachable' }],
        checks: [{ ...input().checks[0]!, outcome: 'failed', output: 'exit 1' }],
        healthyAt: T0 + plan.objectives.rtoMs + 1,
        outcome: 'rolled-back',
      }),
    );
    expect(e.verdict).toBe('fail');
    const why = e.verdictReasons.join('\n');
    for (const m of [
      /teardown not proven/,
      /isolation breached/,
      /check\(s\) failed: a\/check\/0 on a-1/,
      /RTO .* exceeds/,
      /operation rolled-back/,
    ])
      expect(why).toMatch(m);
    expect(e.replicaIntegrity?.unchanged).toBe(false);
  });
  it('a refused drill has no point set and says so', () => {
    const { preflight: _p, proof: _r, healthyAt: _h, ...rest } = input();
    const e = buildEvidence({
      ...rest,
      preflightError: 'no usable recovery point for a-1',
      outcome: 'failed',
      checks: [],
      probes: [],
    });
    expect(evidenceSchema.safeParse(e).success).toBe(true);
    expect(e.pointSet).toBeUndefined();
    expect(e.verdictReasons[0]).toMatch(/preflight refused: no usable recovery point/);
  });
});
