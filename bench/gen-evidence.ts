/**
 * A synthetic evidence record of a large drill: `vms` VMs in groups of 20 over 10 waves, with
 * what the drill engine records per VM (a point, a build span, a check, an isolation probe,
 * replica digests before and after). Deterministic.
 */
import type { Evidence } from '../reports/evidence.ts';

export function generateEvidence(vms: number): Evidence {
  const t0 = Date.parse('2026-11-20T09:00:00.000Z');
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  const sha = (i: number) => i.toString(16).padStart(8, '0').repeat(8);
  const groups = Array.from({ length: Math.ceil(vms / 20) }, (_, g) => ({
    name: `group-${String(g).padStart(4, '0')}`,
    wave: g % 10,
    vms: Array.from(
      { length: Math.min(20, vms - g * 20) },
      (_, i) => `vm-${String(g * 20 + i).padStart(5, '0')}`,
    ),
  }));
  const all = groups.flatMap((g) => g.vms.map((vm, i) => ({ vm, g, i })));
  const digest = (vm: string, i: number) => ({
    vm,
    pointId: 'p-1',
    file: `${vm}/disk0.qcow2`,
    sha256: sha(i),
    size: 10_737_418_240,
  });
  return {
    apiVersion: 'lifeboat/v1',
    kind: 'Evidence',
    schemaVersion: 1,
    id: 'runbook/big/drill/1',
    type: 'drill',
    runbook: { name: 'big', owner: 'ops', planHash: sha(1), file: 'big.yaml', fileSha256: sha(2) },
    lifeboatVersion: '0.1.0',
    temporal: { namespace: 'default', workflowId: 'runbook/big/drill/1', runId: 'r' },
    startedBy: 'alice',
    startedAt: at(0),
    endedAt: at(3600),
    scope: { sites: { primary: 'a', secondary: 'b', target: 'b' }, network: 'bubble', groups },
    pointSet: {
      selector: 'latest',
      pointId: 'p-1',
      capturedAt: at(-120),
      points: all.map(({ vm }) => ({
        vm,
        pointId: 'p-1',
        checkpointAt: at(-120),
        committedAt: at(-60),
        consistency: { requested: 'application', achieved: 'application' },
        integrity: { state: 'verified' },
        kind: 'incremental' as const,
      })),
    },
    objectives: {
      rto: { targetMs: 4 * 3600_000, measuredMs: 3500_000, pass: true, basis: 'start to last group healthy' },
      rpo: { targetMs: 900_000, measuredMs: 120_000, pass: true, basis: 'start minus capture' },
    },
    timeline: [
      {
        kind: 'operation',
        name: 'runbook/big/drill/1',
        startedAt: at(0),
        endedAt: at(3600),
        outcome: 'succeeded',
      },
      ...Array.from({ length: 10 }, (_, w) => ({
        kind: 'wave' as const,
        name: `wave ${w}`,
        wave: w,
        startedAt: at(w * 340),
        endedAt: at(w * 340 + 330),
        outcome: 'done',
      })),
      ...groups.map((g) => ({
        kind: 'group' as const,
        name: g.name,
        group: g.name,
        wave: g.wave,
        startedAt: at(g.wave * 340),
        endedAt: at(g.wave * 340 + 300),
        outcome: 'succeeded',
      })),
      ...all.map(({ vm, g, i }) => ({
        kind: 'vm' as const,
        name: `${vm} build and boot`,
        group: g.name,
        vm,
        wave: g.wave,
        startedAt: at(g.wave * 340 + i),
        endedAt: at(g.wave * 340 + 200 + i),
        outcome: 'succeeded',
      })),
    ],
    checks: all.map(({ vm, g, i }) => ({
      id: `${g.name}/check/0`,
      group: g.name,
      vm,
      kind: 'tcp' as const,
      outcome: 'passed' as const,
      output: `connected to 10.1.${i}.1:443`,
      attempts: 1,
      startedAt: at(g.wave * 340 + 200),
      endedAt: at(g.wave * 340 + 210),
    })),
    approvals: [],
    isolation: all.map(({ vm, i }) => ({
      vm,
      domain: `lb-drill-big-1-${vm}`,
      target: `10.0.${i}.1`,
      method: 'tcp',
      outcome: 'isolated' as const,
      detail: 'no answer',
      at: at(100),
    })),
    replicaIntegrity: {
      before: all.map(({ vm }, i) => digest(vm, i)),
      after: all.map(({ vm }, i) => digest(vm, i)),
      unchanged: true,
    },
    teardown: {
      facts: [{ fact: 'no domain named lb-drill-big-1-*', holds: true, detail: 'checked' }],
      proven: true,
      at: at(3600),
    },
    deviations: [],
    outcome: 'succeeded',
    verdict: 'pass',
    verdictReasons: [],
  };
}
