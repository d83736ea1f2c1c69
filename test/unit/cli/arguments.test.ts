/**
 * Property-style: the CLI's point, time and name arguments fed random strings (a seeded
 * generator, so a failure reproduces) are refused cleanly: exit code 2, one message and a hint
 * on stderr, nothing on stdout, no stack trace, and nothing started: TEMPORAL_ADDRESS names a
 * closed port, so a command that got past its checks would exit 3 (unavailable) instead, and
 * embedded mode (which starts a dev server) is never entered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../bench/gen-runbook.ts';
import { operationIdProblem } from '../../../cli/arguments.ts';
import { parsePointSelector } from '../../../restore/point-set.ts';
import { unsafeNameReason } from '../../../runbooks/names.ts';
import { useInProcessCli } from '../../support/in-process-cli.ts';

const cli = useInProcessCli();
const SEED = Number(process.env.LIFEBOAT_PROPERTY_SEED ?? 20261204);
const RUNS = 150;

const POOLS = [
  'abcxyzABC0123456789._-',
  ' !"#$%&\'()*+,/:;<=>?@[\\]^`{|}~',
  '\u0000\u0001\u0007\b\t\n\r\u001b\u007f',
  'é漢\u202e\ufeff😀\u0301',
  '/..\\',
  '0123456789TZ-:+.',
];
const SEEDS = [
  '20261204T011500Z-7',
  '2026-12-04T01:15:00Z',
  '2026-02-30T25:61:00+14:00',
  'latest',
  'shop',
  'runbook/shop/drill/3',
  '../../etc/passwd',
  '-rf',
  '--help',
  '',
];

function randomString(next: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const mode = next();
  if (mode < 0.35) {
    // A near-valid value with a few characters changed, inserted or removed.
    const s = [...pick(SEEDS)];
    for (let i = Math.floor(next() * 3); i >= 0; i--) {
      const at = Math.floor(next() * (s.length + 1));
      const op = next();
      if (op < 0.4) s.splice(at, 1, pick([...pick(POOLS)]));
      else if (op < 0.8) s.splice(at, 0, pick([...pick(POOLS)]));
      else s.splice(at, 1);
    }
    return s.join('');
  }
  const length = mode < 0.9 ? Math.floor(next() * 24) : 60 + Math.floor(next() * 200);
  let out = '';
  for (let i = 0; i < length; i++) out += pick([...pick(POOLS)]);
  return out;
}

function samples(salt: number): string[] {
  const next = seededRandom(SEED + salt);
  return [...SEEDS, ...Array.from({ length: RUNS }, () => randomString(next))];
}

function expectRefused(args: string[], r: { code: number; stdout: string; stderr: string }): void {
  const what = JSON.stringify(args);
  if (args.some((a) => a === '--help' || a === '-h') && r.code === 0) {
    // Read as the help option (not as an option's value): help is printed, nothing else happens.
    expect(r.stdout, what).toContain('Usage:');
    return;
  }
  expect(r.code, `${what}: ${r.stderr}`).toBe(2);
  expect(r.stdout, what).toBe('');
  expect(r.stderr, what).toMatch(/(lifeboat: |error: )/);
  expect(r.stderr, what).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

let saved: string | undefined;
beforeAll(() => {
  saved = process.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_ADDRESS = '127.0.0.1:1';
});
afterAll(() => {
  if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
  else process.env.TEMPORAL_ADDRESS = saved;
});

describe(`CLI arguments, random strings (seed ${SEED})`, () => {
  it('--point (a point id or a time): anything that is not one is refused before the runbook is read', async () => {
    let refused = 0;
    for (const s of samples(1)) {
      const p = parsePointSelector(s);
      if (p.ok) {
        // What is accepted is exactly a point id, latest or a real instant.
        if (p.selector.kind === 'time') expect(Number.isFinite(p.selector.atMs)).toBe(true);
        continue;
      }
      for (const kind of ['drill', 'failover']) {
        const args = [kind, '/nonexistent/runbook.yaml', '--point', s];
        const r = await cli.run(...args);
        expectRefused(args, r);
        if (!s.startsWith('-')) expect(r.stderr).toContain('hint: ');
      }
      refused++;
    }
    expect(refused).toBeGreaterThan(RUNS / 2);
  });

  it('runbook, group and operation names: unsafe ones are refused, nothing is asked of a server', async () => {
    let refused = 0;
    for (const s of samples(2)) {
      if (unsafeNameReason(s) === undefined) continue;
      refused++;
      for (const args of [
        ['commit', s, '--reason', 'r'],
        ['rollback-failover', s, '--reason', 'r'],
        ['cancel', s, 'runbook/shop/drill/1', '--reason', 'r'],
        ['status', '--runbook', s],
        ['retry', s, '--group', 'web', '--reason', 'r'],
        ['skip', 'shop', '--group', s, '--reason', 'r'],
        ['approve', s, '--step', 'web/before/0', '--reason', 'r'],
      ]) {
        expectRefused(args, await cli.run(...args));
      }
    }
    expect(refused).toBeGreaterThan(RUNS / 2);
    for (const s of samples(3)) {
      if (operationIdProblem('shop', s) === undefined) continue;
      const args = ['cancel', 'shop', s, '--reason', 'r'];
      expectRefused(args, await cli.run(...args));
    }
  });
});
