/**
 * Drills on the real lab, the workload writing all along: a point set restored at the secondary
 * as copy-on-write copies on the isolated bubble, checked (the data read inside the copy), torn
 * down, and the teardown proven; the replica's files byte-identical before and after.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evidencePath } from '../../../activities/evidence.ts';
import { cancelOperation, operationResult, startOperation } from '../../../cli/runbook-client.ts';
import { parseEvidence } from '../../../reports/evidence.ts';
import { progressQuery } from '../../../workflows/messages.ts';
import { runCli } from '../../support/cli.ts';
import { saveHistory } from '../../support/histories.ts';
import { ALICE_KEY } from '../../support/plans.ts';
import { type CycleLab, startCycleLab } from '../replication-cycle/harness.ts';
import { CHECKS, drill, replicaDigests, secondaryDomains, VM } from './helpers.ts';

const pexec = promisify(execFile);

describe('drill (real lab)', () => {
  let lab: CycleLab;

  beforeAll(async () => {
    lab = await startCycleLab({
      vmName: VM,
      runbook: `drl-${Date.now().toString(36)}`,
      groupExtra: CHECKS,
    });
    const c = await lab.cycle();
    expect((await c.result).outcome).toBe('succeeded');
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('restores the point set on the bubble, proves the data inside the copy, tears down, and leaves the replica untouched', async () => {
    const root = path.join(lab.storeRoot, lab.vm.name);
    const before = replicaDigests(root);
    const r = await drill(lab, lab.plan);
    expect(r.outcome, r.error).toBe('succeeded');
    expect(r.verdict, (r.verdictReasons ?? []).join('; ')).toBe('pass');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, evidence.id, 'operationWorkflow', 'drill-from-point');
    expect(evidence.checks.map((c) => [c.kind, c.outcome])).toEqual(
      expect.arrayContaining([
        ['serial', 'passed'],
        ['agent', 'passed'],
        ['tcp', 'passed'],
        ['data', 'passed'],
      ]),
    );
    const data = evidence.checks.find((c) => c.kind === 'data');
    expect(data?.output).toMatch(/vdb: seq \d+ .* found and identical/);
    expect(data?.output).toMatch(/vdc: seq \d+ .* found and identical/);
    expect(evidence.isolation.length).toBeGreaterThan(0);
    expect(evidence.isolation.every((p) => p.outcome === 'isolated')).toBe(true);
    expect(evidence.teardown?.proven).toBe(true);
    expect(evidence.replicaIntegrity?.unchanged).toBe(true);
    expect(evidence.objectives.rto.measuredMs).toBeGreaterThan(0);
    expect(evidence.pointSet?.points.map((p) => p.vm)).toEqual([lab.vm.name]);
    // Checked here too, not only by the product's own proof.
    expect(replicaDigests(root)).toEqual(before);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);

    // The evidence became a signed report; the CLI verifies it, the controller's head included.
    expect(r.report?.id).toBe(evidence.id);
    const reportDir = path.dirname(r.report?.htmlPath as string);
    const verified = await runCli(['report', 'verify', reportDir], {
      ...process.env,
      LIFEBOAT_HOME: lab.home,
    });
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain('controller head: checked');
    expect(readFileSync(r.report?.htmlPath as string, 'utf8')).toContain('PASS');
  });

  it('a failing check fails the verdict with its output, and the teardown is still proven', async () => {
    const plan = await lab.variant(`${lab.plan.runbook.name}-bad`, {
      consistency: 'crash',
      groupExtra: `    onFailure: rollback
    checks:
      - agent: { command: [/health.sh], expect: "NOT-THERE", within: 20s }
`,
    });
    // Points belong to their runbook: this one replicates once first.
    expect((await (await lab.cycle(plan)).result).outcome).toBe('succeeded');
    const r = await drill(lab, plan);
    expect(r.outcome).toBe('rolled-back');
    expect(r.verdict).toBe('fail');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    const failed = evidence.checks.find((c) => c.outcome === 'failed');
    expect(failed?.output).toMatch(/LIFEBOAT-HEALTH/);
    expect(evidence.teardown?.proven).toBe(true);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('a drill still running when drill.keepAtMost expires is torn down, and fails saying why', async () => {
    const plan = await lab.variant(`${lab.plan.runbook.name}-keep`, {
      consistency: 'crash',
      // The copy boots, then waits on a check that never passes within the drill's lifetime.
      groupExtra: `    onFailure: rollback
    checks:
      - serial: { pattern: "NEVER-PRINTED", within: 10m }
`,
      keepAtMost: '30s',
    });
    expect((await (await lab.cycle(plan)).result).outcome).toBe('succeeded');
    const r = await drill(lab, plan);
    expect(r.verdict).toBe('fail');
    expect([r.error, ...(r.verdictReasons ?? [])].join('; ')).toMatch(/keepAtMost/);
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    // The copy was really built before the time ran out, and is gone now.
    expect(evidence.timeline.some((t) => t.kind === 'vm')).toBe(true);
    expect(evidence.teardown?.proven).toBe(true);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('a point that does not exist is refused before anything is built', async () => {
    const r = await drill(lab, lab.plan, '20200101T000000Z-99');
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(/no point 20200101T000000Z-99/);
    expect(r.verdict).toBe('fail');
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('a copy that can reach its production address fails the drill at once with that reason, torn down', async () => {
    // Something on the bubble answers for the VM's production address (the test VM's is
    // 192.168.100.90): the secondary's own bubble bridge, for the length of this test.
    const ns = ['netns', 'exec', 'lb-secondary', 'ip', 'addr'];
    await pexec('ip', [...ns, 'add', '192.168.100.90/32', 'dev', 'lbbubble0']);
    try {
      const r = await drill(lab, lab.plan);
      expect(r.outcome).toBe('rolled-back');
      expect(r.error).toMatch(/isolation breached/);
      const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
      expect(evidence.isolation.some((p) => p.outcome === 'reachable' && p.target === '192.168.100.90')).toBe(
        true,
      );
      expect(evidence.verdictReasons.join(' ')).toMatch(/isolation breached/);
      expect(evidence.teardown?.proven).toBe(true);
    } finally {
      await pexec('ip', [...ns, 'del', '192.168.100.90/32', 'dev', 'lbbubble0']).catch(() => undefined);
    }
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('a drill cancelled while its copy boots is torn down, the teardown proven, the outcome cancelled', async () => {
    const op = await startOperation(lab.client, { plan: lab.plan, kind: 'drill' });
    const handle = lab.client.workflow.getHandle(op.id);
    for (let i = 0; i < 600; i++) {
      const p = await handle.query(progressQuery).catch(() => undefined);
      if (p && Object.values(p.groups).some((g) => g.step === 'vms' || g.step === 'checks')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await cancelOperation(lab.client, {
      runbook: lab.plan.runbook.name,
      operationId: op.id,
      reason: 'drill test',
      key: ALICE_KEY,
    });
    // A cancelled workflow's failure carries no result back: what `drill --wait` prints comes
    // from the summary the drill sent its controller as it ended.
    const r = await operationResult(lab.client, { id: op.id, kind: 'drill', runbook: lab.plan.runbook.name });
    expect(r.outcome).toBe('cancelled');
    expect(r.verdict).toBe('fail');
    const file = evidencePath(lab.home, op.id);
    expect(r.evidencePath).toBe(file);
    expect(r.report?.id).toBe(op.id);
    const evidence = parseEvidence(JSON.parse(readFileSync(file, 'utf8')), file);
    expect(evidence.outcome).toBe('cancelled');
    expect(evidence.verdict).toBe('fail');
    expect(evidence.teardown?.proven).toBe(true);
    expect(evidence.replicaIntegrity?.unchanged).toBe(true);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });
});
