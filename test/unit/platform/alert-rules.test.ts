import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';

// promtool comes from Debian's `prometheus` package, installed by scripts/setup.sh; without it
// these tests fail rather than skip, so the alert rules are never shipped unchecked.
const run = promisify(execFile);
const RULES = path.join(REPO_ROOT, 'deploy', 'prometheus', 'rules');

describe('alert rules (deploy/prometheus/rules)', () => {
  test('promtool check rules accepts them', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', path.join(RULES, 'lifeboat.rules.yml')]);
    expect(stdout).toContain('SUCCESS: 8 rules found');
  });

  test('their own unit tests pass (promtool test rules)', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', path.join(RULES, 'lifeboat.rules.test.yml')]);
    expect(stdout).toContain('SUCCESS');
    // (promtool takes 2-7 s on this machine under load.)
  }, 30_000);

  test('every alert the issue asks for is there', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(path.join(RULES, 'lifeboat.rules.yml'), 'utf8');
    const alerts = [...text.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(alerts.sort()).toEqual([
      'LifeboatCyclesFailing',
      'LifeboatDrillOverdue',
      'LifeboatLastDrillFailed',
      'LifeboatPointCorrupt',
      'LifeboatRpoOverObjective',
      'LifeboatSiteWorkerAbsent',
      'LifeboatUpkeepNotRunning',
    ]);
  });
});

describe('Grafana dashboard (deploy/grafana)', () => {
  test('charts only metrics Lifeboat exports or the rules record', async () => {
    const { readFile } = await import('node:fs/promises');
    const d = JSON.parse(
      await readFile(path.join(REPO_ROOT, 'deploy', 'grafana', 'lifeboat-protection.json'), 'utf8'),
    ) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const names = new Set(
      d.panels.flatMap((p) =>
        p.targets.flatMap((t) => [...t.expr.matchAll(/\b(lifeboat[:_]\w+)/g)].map((m) => m[1])),
      ),
    );
    const known = [
      'lifeboat_rpo_seconds',
      'lifeboat_rpo_objective_seconds',
      'lifeboat:rpo_breach',
      'lifeboat_replication_cycle_duration_seconds_bucket',
      'lifeboat_replication_bytes_shipped_total',
      'lifeboat_protection_runs_total',
      'lifeboat_drill_last_passed',
      'lifeboat_points_failed',
    ];
    expect([...names].filter((n) => !known.includes(n as string))).toEqual([]);
    expect(names.has('lifeboat_rpo_seconds')).toBe(true);
  });
});
