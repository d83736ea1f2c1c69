/**
 * The `data` check's command form on the real lab: the primary's guest runs the command in its
 * fsfreeze hook as the point is taken (application consistency), the manifest records the
 * output, and the drill's copy must print the same. The VM boots this tree's lab guest (the hook
 * installed, qemu-ga started with --fsfreeze-hook), whatever guest the shared lab runs.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureGuest } from '../../../lab/guest.ts';
import { parseEvidence } from '../../../reports/evidence.ts';
import { saveHistory } from '../../support/histories.ts';
import { type CycleLab, startCycleLab } from '../replication-cycle/harness.ts';
import { bootTestVm } from '../replication-cycle/lab-vm.ts';
import { drill, secondaryDomains } from './helpers.ts';

const pexec = promisify(execFile);
const VM = 'drl-cmd';

/**
 * This tree's guest with its hook replaced by one that does nothing (as a distribution's default
 * hook would): an archive appended to the initramfs overrides the file at boot.
 */
async function guestWithoutHook(guestDir: string): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-nohook-'));
  const stage = path.join(dir, 'stage');
  mkdirSync(path.join(stage, 'usr/libexec/lifeboat'), { recursive: true });
  writeFileSync(path.join(stage, 'usr/libexec/lifeboat/fsfreeze-hook'), '#!/bin/sh\nexit 0\n', {
    mode: 0o755,
  });
  copyFileSync(path.join(guestDir, 'vmlinuz'), path.join(dir, 'vmlinuz'));
  const extra = path.join(dir, 'extra.cpio.gz');
  await pexec('bash', ['-c', 'cd "$1" && find . | cpio -o -H newc --quiet | gzip > "$2"', '-', stage, extra]);
  writeFileSync(
    path.join(dir, 'initramfs.cpio.gz'),
    Buffer.concat([readFileSync(path.join(guestDir, 'initramfs.cpio.gz')), readFileSync(extra)]),
  );
  return dir;
}
const MARKER = ['sha256sum', '/data/marker.txt'];

describe('drill with data: { command } (real lab)', () => {
  let lab: CycleLab;
  let guestDir = '';

  beforeAll(async () => {
    const guest = await ensureGuest();
    guestDir = guest.dir;
    lab = await startCycleLab({
      vmName: VM,
      runbook: `dcm-${Date.now().toString(36)}`,
      guestDir: guest.dir,
    });
  });
  afterAll(async () => {
    await lab?.close();
  });

  /** An application-consistent variant of the runbook with these checks, and the point its cycle committed. */
  async function cycleWithChecks(suffix: string, checks: string[]) {
    const plan = await lab.variant(`${lab.plan.runbook.name}-${suffix}`, {
      consistency: 'application',
      groupExtra: `    onFailure: rollback\n    checks:\n${checks.map((c) => `      - ${c}\n`).join('')}`,
    });
    const cycle = await (await lab.cycle(plan)).result;
    expect(cycle.outcome, JSON.stringify(cycle.vms)).toBe('succeeded');
    return { plan, point: (await lab.store.scanPoints(VM)).points.at(-1)! };
  }

  it('passes when the copy prints what the primary printed at the snapshot, both outputs in the evidence', async () => {
    const { plan, point } = await cycleWithChecks('ok', [
      `data: {}`,
      `data: { command: [${MARKER.join(', ')}], within: 3m }`,
    ]);
    expect(point.consistency).toEqual({ requested: 'application', achieved: 'application' });
    expect(point.commands).toEqual([
      {
        argv: MARKER,
        captured: true,
        exitCode: 0,
        stdout: expect.stringMatching(/^[0-9a-f]{64} {2}\/data\/marker\.txt\n$/),
        ranAt: expect.any(String),
      },
    ]);
    const atPrimary = point.commands?.[0]?.captured ? point.commands[0].stdout : '';

    const r = await drill(lab, plan);
    expect(r.outcome, r.error).toBe('succeeded');
    expect(r.verdict, (r.verdictReasons ?? []).join('; ')).toBe('pass');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    await saveHistory(lab.client, evidence.id, 'operationWorkflow', 'drill-data-command');
    const checks = evidence.checks.filter((c) => c.kind === 'data');
    expect(checks.map((c) => c.outcome)).toEqual(['passed', 'passed']);
    const cmd = checks.find((c) => c.output.startsWith('command '));
    expect(cmd?.output).toContain(
      `at the primary (${point.commands?.[0]?.captured && point.commands[0].ranAt}): exit 0, stdout ${JSON.stringify(atPrimary)}`,
    );
    expect(cmd?.output).toContain(`in the restored VM: exit 0, stdout ${JSON.stringify(atPrimary)}`);
    expect(cmd?.output).toMatch(/same exit code and output$/);
    expect(evidence.teardown?.proven).toBe(true);
  });

  it('fails when the copy prints something else (the boot counter, bumped by the copy`s own boot), both outputs in the evidence', async () => {
    const { plan, point } = await cycleWithChecks('boots', [
      `data: { command: [cat, /data/boots], within: 2m }`,
    ]);
    const rec = point.commands?.[0];
    expect(rec).toMatchObject({ argv: ['cat', '/data/boots'], captured: true, exitCode: 0 });
    const boots = Number(rec?.captured ? rec.stdout.trim() : Number.NaN);
    expect(boots).toBeGreaterThan(0);

    const r = await drill(lab, plan);
    expect(r.outcome).toBe('rolled-back');
    expect(r.verdict).toBe('fail');
    const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
    const failed = evidence.checks.find((c) => c.kind === 'data');
    expect(failed?.outcome).toBe('failed');
    expect(failed?.output).toContain(`exit 0, stdout "${boots}\\n"`);
    expect(failed?.output).toContain(`in the restored VM: exit 0, stdout "${boots + 1}\\n"`);
    expect(failed?.output).toContain('differs: stdout');
    expect(evidence.teardown?.proven).toBe(true);
    expect((await secondaryDomains()).filter((d) => d.startsWith('lb-drill-'))).toEqual([]);
  });

  it('a guest without the hook: the point says not captured and why, and the drill fails saying so', async () => {
    const dir = await guestWithoutHook(guestDir);
    try {
      await bootTestVm(lab.vm, { guestDir: dir });
      const { plan, point } = await cycleWithChecks('nohook', [
        `data: { command: [${MARKER.join(', ')}], within: 2m }`,
      ]);
      // The freeze itself worked: only the command was not captured.
      expect(point.consistency).toEqual({ requested: 'application', achieved: 'application' });
      expect(point.commands).toEqual([
        {
          argv: MARKER,
          captured: false,
          reason: expect.stringMatching(/^no Lifeboat fsfreeze hook ran in the guest .*--fsfreeze-hook$/),
        },
      ]);
      const r = await drill(lab, plan);
      expect(r.verdict).toBe('fail');
      const evidence = parseEvidence(JSON.parse(readFileSync(r.evidencePath as string, 'utf8')), 'evidence');
      const failed = evidence.checks.find((c) => c.kind === 'data');
      expect(failed?.outcome).toBe('failed');
      expect(failed?.output).toContain(
        'command sha256sum /data/marker.txt: not captured at the primary: no Lifeboat fsfreeze hook ran in the guest',
      );
      expect(evidence.teardown?.proven).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
