/** The two commands end to end, through bin/lifeboat.mjs: output and exit codes. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../runbooks/plan.ts';
import { ONE_GROUP, runbookText } from './fixtures.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/lifeboat.mjs');

function lifeboat(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'lifeboat-cli-'));
const bad = join(dir, 'bad.yaml');
writeFileSync(bad, runbookText('  - { name: a, vms: [] }'));
const warn = join(dir, 'warn.yaml');
writeFileSync(warn, runbookText(ONE_GROUP, { replication: 'replication: { every: 6m }' }));

describe('lifeboat validate', () => {
  it('exits 0 on clean files', async () => {
    const r = await lifeboat('validate', 'runbooks/examples/diamond.yaml', 'runbooks/examples/payments.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('runbooks/examples/diamond.yaml: ok');
  }, 30_000);

  it('exits 1 on errors and prints file:line:col', async () => {
    const r = await lifeboat('validate', bad, 'runbooks/examples/diamond.yaml');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `${bad}:13:21: error: group 'a' has no VMs (list at least one VM, or remove the group)`,
    );
  }, 30_000);

  it('exits 0 on warnings alone, and --json carries the findings', async () => {
    const r = await lifeboat('validate', '--json', warn);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      warnings: number;
      findings: { code: string; line: number }[];
    };
    expect(out.ok).toBe(true);
    expect(out.warnings).toBe(1);
    expect(out.findings[0]).toMatchObject({ code: 'replication-near-rpo', line: 10 });
  }, 30_000);

  it('exits 1 on an unreadable file and 2 on usage errors', async () => {
    expect((await lifeboat('validate', join(dir, 'missing.yaml'))).code).toBe(1);
    expect((await lifeboat('validate')).code).toBe(2);
  }, 30_000);
});

describe('lifeboat plan', () => {
  it('prints the Plan as JSON', async () => {
    const r = await lifeboat('plan', 'runbooks/examples/diamond.yaml', '--json');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as Plan;
    expect(plan.waves).toEqual([['a'], ['b', 'c'], ['d']]);
  }, 30_000);

  it('shows waves, gates with approvers and skipped steps for an operation', async () => {
    const r = await lifeboat('plan', 'runbooks/examples/payments.yaml', '--for', 'drill');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Wave 3');
    expect(r.stdout).toContain(
      'gate   approval by incident-commander (alice, bob) within 30m: "Open traffic?"',
    );
    expect(r.stdout).toMatch(/- hook {3}switch-dns\.sh "web" on secondary \(lyon\).*skipped in drill/);
    expect(r.stdout).toContain('Objectives: RPO 5m, RTO 45m');
  }, 30_000);

  it('exits 1 with findings on stderr for a broken runbook, 2 for an unknown operation', async () => {
    const r = await lifeboat('plan', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('13:21: error');
    expect((await lifeboat('plan', 'runbooks/examples/diamond.yaml', '--for', 'restore')).code).toBe(2);
  }, 30_000);
});
