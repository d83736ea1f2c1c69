import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileRunbookText, computeWaves, planHash, verifyPlanHash } from '../../../runbooks/index.ts';
import type { Plan } from '../../../runbooks/plan.ts';
import { runbookText } from './fixtures.ts';

function compile(text: string): Plan {
  const r = compileRunbookText(text, 'rb.yaml');
  expect(r.findings.filter((f) => f.severity === 'error')).toEqual([]);
  return r.plan!;
}

const diamondText = readFileSync(new URL('../../../runbooks/examples/diamond.yaml', import.meta.url), 'utf8');

describe('compilePlan', () => {
  it('orders the diamond into three waves', () => {
    const plan = compile(diamondText);
    expect(plan.waves).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(plan.groups.map((g) => [g.name, g.wave])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 1],
      ['d', 2],
    ]);
  });

  it('puts a group one wave after its latest dependency, not its first', () => {
    expect(
      computeWaves([{ name: 'x', dependsOn: ['y', 'z'] }, { name: 'y' }, { name: 'z', dependsOn: ['y'] }]),
    ).toEqual([['y'], ['z'], ['x']]);
  });

  it('names steps and checks by group, phase and index and resolves every default', () => {
    const groups = [
      '  - name: a',
      '    vms: [a-1]',
      '    checks: [{ http: { port: 80 } }, { agent: { command: uptime } }, { data: {} }]',
      '    before: [{ approval: { role: ic } }]',
      '    after: [{ run: { command: dns.sh } }, { wait: { for: 10s } }]',
    ].join('\n');
    const plan = compile(runbookText(groups));
    const g = plan.groups[0]!;
    expect(g.onFailure).toBe('pause');
    expect(g.checks).toEqual([
      { id: 'a/check/0', group: 'a', kind: 'http', port: 80, path: '/', expect: 200, withinMs: 120_000 },
      { id: 'a/check/1', group: 'a', kind: 'agent', command: ['uptime'], expect: '', withinMs: 120_000 },
      { id: 'a/check/2', group: 'a', kind: 'data', withinMs: 600_000 },
    ]);
    expect(g.before).toEqual([
      {
        id: 'a/before/0',
        group: 'a',
        in: ['drill', 'failover', 'failback'],
        kind: 'approval',
        role: 'ic',
        withinMs: 1_800_000,
        prompt: 'Approve starting group a?',
      },
    ]);
    expect(g.after).toEqual([
      {
        id: 'a/after/0',
        group: 'a',
        in: ['failover', 'failback'],
        kind: 'run',
        command: 'dns.sh',
        args: [],
        withinMs: 300_000,
        on: 'secondary',
      },
      { id: 'a/after/1', group: 'a', in: ['drill', 'failover', 'failback'], kind: 'wait', forMs: 10_000 },
    ]);
    expect(plan.replication).toEqual({ everyMs: 60_000, consistency: 'crash', retentionPoints: 24 });
    expect(plan.drill).toEqual({ network: 'bubble' });
    expect(plan.failover).toEqual({ onCommitTimeout: 'rollback', network: 'production' });
    expect(plan.sites.primary.name).toBe('primary');
    expect(plan.sites.secondary.name).toBe('secondary');
  });

  it('lists what each operation runs and skips; a run hook skips drills by default', () => {
    const plan = compile(
      readFileSync(new URL('../../../runbooks/examples/payments.yaml', import.meta.url), 'utf8'),
    );
    expect(plan.operations.drill).toEqual({
      runs: ['web/before/0', 'web/after/0'],
      skips: ['database/before/0', 'web/after/1'],
    });
    expect(plan.operations.failover).toEqual({
      runs: ['database/before/0', 'web/before/0', 'web/after/0', 'web/after/1'],
      skips: [],
    });
    expect(plan.sites.primary.name).toBe('paris');
  });

  it('hashes canonical content: stable across formatting, different when meaning changes', () => {
    const a = compile(diamondText);
    const b = compile(diamondText);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash).toBe(a.hash);
    expect(verifyPlanHash(a)).toBe(true);
    expect(planHash({ ...a, hash: 'x' })).toBe(a.hash);
    const changed = compile(diamondText.replace('within: 10m', 'within: 11m'));
    expect(changed.hash).not.toBe(a.hash);
    expect(verifyPlanHash({ ...a, waves: [['a'], ['c', 'b'], ['d']] })).toBe(false);
  });

  it('gives the same identity to the same runbook loaded from another path or with other comments', () => {
    const a = compile(diamondText);
    const moved = compileRunbookText(`# moved and annotated\n${diamondText}`, 'elsewhere/diamond.yaml').plan;
    expect(moved?.runbook.source.file).toBe('elsewhere/diamond.yaml');
    expect(moved?.runbook.source.sha256).not.toBe(a.runbook.source.sha256);
    expect(moved?.hash).toBe(a.hash);
  });

  it('is JSON-serialisable without loss', () => {
    const plan = compile(diamondText);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('does not compile a runbook with errors', () => {
    const r = compileRunbookText(runbookText('  - { name: a, vms: [] }'), 'rb.yaml');
    expect(r.plan).toBeUndefined();
    expect(r.findings.map((f) => f.code)).toEqual(['empty-group']);
  });
});
