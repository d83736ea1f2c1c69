import { describe, expect, it } from 'vitest';
import { renderFailoverDryRun } from '../../../cli/failover-dry-run.ts';
import { evidenceSchema } from '../../../reports/evidence.ts';
import { admitOperation } from '../../../workflows/admission.ts';
import { buildEvidence } from '../../../workflows/evidence.ts';
import type { OperationProgress } from '../../../workflows/types.ts';
import { vmActionsFor } from '../../../workflows/vm-actions.ts';
import { diamondPlan } from '../../support/plans.ts';

const plan = diamondPlan();
const T0 = Date.parse('2026-12-04T01:00:00Z');

describe('failover from recovery points', () => {
  it('builds each VM at the secondary from the point, persistent, and never touches the primary in the waves', () => {
    const g = plan.groups[0]!;
    const [first] = vmActionsFor('failover', g, { fromPoints: true });
    expect(first?.actions.map((a) => [a.action, a.site, a.network, a.fromPoint])).toEqual([
      ['prepareVm', 'secondary', 'production', true],
      ['startVm', 'secondary', 'production', true],
    ]);
    expect(first?.actions[0]?.undo).toMatchObject({
      action: 'teardownVm',
      site: 'secondary',
      fromPoint: true,
    });
    // Histories from before keep the old actions (stop at the primary first).
    const [old] = vmActionsFor('failover', g);
    expect(old?.actions[0]).toMatchObject({ action: 'stopVm', site: 'primary' });
  });

  it('refuses replication in the old direction after a committed failover, until reprotect', () => {
    expect(admitOperation('failed-over-committed', [], 'replication')).toMatchObject({
      ok: false,
      code: 'STATE',
    });
    expect(admitOperation('normal', [], 'replication')).toMatchObject({ ok: true });
  });

  it('a planned failover that lost records fails its verdict; the facts are evidence', () => {
    const progress: OperationProgress = {
      id: `runbook/${plan.runbook.name}/failover/1`,
      kind: 'failover',
      runbook: plan.runbook.name,
      planHash: plan.hash,
      state: 'succeeded',
      wave: 0,
      waves: plan.waves.length,
      startedAt: T0,
      endedAt: T0 + 60_000,
      groups: {},
      gates: [],
      pauses: [],
      decisions: [],
      compensations: { pending: 0, done: 0 },
    };
    const failover = {
      mode: 'planned' as const,
      shutdown: [{ vm: 'a-1', method: 'agent' as const, wasRunning: true, at: new Date(T0).toISOString() }],
      dataProof: [{ vm: 'a-1', target: 'vdb', primarySeq: 10, pointSeq: 8, lost: 2, identical: false }],
      recordsLost: 2,
      primaryRestarted: [],
    };
    const e = buildEvidence({
      plan,
      progress,
      outcome: 'succeeded',
      temporal: { namespace: 'default', workflowId: progress.id, runId: 'r' },
      startedBy: 'test',
      selector: 'final cycle',
      targetSite: plan.sites.secondary.name,
      network: 'production',
      checks: [],
      probes: [],
      healthyAt: T0 + 30_000,
      failover,
    });
    expect(evidenceSchema.parse(e).type).toBe('failover');
    expect(e.failover?.recordsLost).toBe(2);
    expect(e.verdict).toBe('fail');
    expect(e.verdictReasons.join('\n')).toMatch(/2 workload record\(s\)/);
    // No drill-only reasons (isolation, teardown) for a failover.
    expect(e.verdictReasons.join('\n')).not.toMatch(/isolation|teardown/);
  });

  it('the dry run lists the points, the shutdown order (reverse waves), the waves, and the gates with approvers', () => {
    const points = plan.groups.flatMap((g) =>
      g.vms.map((v) => ({
        vm: v.name,
        pointId: '20261204T005900Z-7',
        checkpointAt: new Date(T0 - 60_000).toISOString(),
        integrity: 'verified' as const,
        memoryMiB: 128,
      })),
    );
    const choice = {
      ok: true as const,
      pointId: '20261204T005900Z-7',
      points,
      capturedAt: new Date(T0 - 60_000).toISOString(),
    };
    const text = renderFailoverDryRun(plan, 'planned', choice, T0).join('\n');
    expect(text).toContain('a-1: 20261204T005900Z-7');
    expect(text).toContain('60 s ago');
    expect(text).toMatch(/shutdown order[^\n]*\n {2}1\. d-1\n {2}2\. b-1, c-1\n {2}3\. a-1/);
    expect(text).toContain(`the VMs need ${128 * points.length} MiB`);
    expect(text).toMatch(/gate b\/before\/0: role \S+, approvers alice/);
    const disaster = renderFailoverDryRun(plan, 'disaster', choice, T0).join('\n');
    expect(disaster).toContain('expected data-loss window: 60 s');
    expect(disaster).not.toContain('shutdown order');
  });
});
