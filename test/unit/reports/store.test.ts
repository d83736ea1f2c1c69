import { existsSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../cli/main.ts';
import { publishReport } from '../../../reports/store.ts';
import { drillEvidence } from '../../fixtures/reports/evidence.ts';
import { tempDir } from './helpers.ts';

let home = '';
let keyDir = '';
const now = () => new Date('2026-11-20T10:00:00.000Z');

beforeEach(() => {
  home = tempDir('home');
  keyDir = path.join(tempDir('keys'), 'report-key');
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(path.dirname(keyDir), { recursive: true, force: true });
});

describe('publishReport', () => {
  it('writes the signed file, its page, the index and the head; a key made on first use, mode 0600', async () => {
    const r = await publishReport(drillEvidence(1), { home, keyDir, now });
    expect(r).toMatchObject({
      id: 'runbook/lab/drill/1',
      previousSha256: null,
      dir: path.join(home, 'reports', 'lab'),
    });
    expect(r.jsonPath).toBe(path.join(home, 'reports', 'lab', 'drill-1.json'));
    for (const f of [r.jsonPath, r.htmlPath, path.join(r.dir, 'index.html')])
      expect(existsSync(f)).toBe(true);
    expect(JSON.parse(readFileSync(path.join(r.dir, 'head.json'), 'utf8'))).toEqual({
      id: r.id,
      sha256: r.sha256,
    });
    expect(statSync(path.join(keyDir, 'report.key')).mode & 0o777).toBe(0o600);
  });

  it('is idempotent and chains the next report to the previous file', async () => {
    const a = await publishReport(drillEvidence(1), { home, keyDir, now });
    const again = await publishReport(drillEvidence(1), { home, keyDir });
    expect(again).toEqual(a);
    const b = await publishReport(drillEvidence(2), { home, keyDir, now });
    expect(b.previousSha256).toBe(a.sha256);
    await expect(
      publishReport(drillEvidence(2, { startedBy: 'bob' }), { home, keyDir }),
    ).rejects.toMatchObject({ code: 'EVIDENCE_CONFLICT' });
  });

  it('finishes a publish a crash cut short after the report file, without forking the chain', async () => {
    const a = await publishReport(drillEvidence(1), { home, keyDir, now });
    const b = await publishReport(drillEvidence(2), { home, keyDir, now });
    // As if the process died after writing drill-2.json: the page gone, the head still at drill-1.
    unlinkSync(b.htmlPath);
    writeFileSync(path.join(b.dir, 'head.json'), JSON.stringify({ id: a.id, sha256: a.sha256 }));
    writeFileSync(path.join(b.dir, 'pending.json'), JSON.stringify({ id: b.id, jsonPath: 'drill-2.json' }));
    const c = await publishReport(drillEvidence(3), { home, keyDir, now });
    expect(c.previousSha256).toBe(b.sha256);
    expect(existsSync(b.htmlPath)).toBe(true);
  });
});

describe('lifeboat report', () => {
  let out: string[] = [];
  beforeEach(() => {
    out = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    process.env.LIFEBOAT_HOME = home;
    // No server is configured: verify must say the head was not checked, never start one.
    delete process.env.TEMPORAL_ADDRESS;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    delete process.env.LIFEBOAT_HOME;
    process.exitCode = undefined;
  });
  const run = async (...args: string[]) => {
    out = [];
    const code = await main(['node', 'lifeboat', ...args]);
    process.exitCode = undefined;
    return { code, text: out.join('') };
  };

  it('lists, shows and verifies; pins the key on first verify; fails when the newest report is gone', async () => {
    await publishReport(drillEvidence(1), { home, keyDir, now });
    const last = await publishReport(drillEvidence(2), { home, keyDir, now });
    const dir = path.join(home, 'reports', 'lab');
    expect((await run('report', 'list', 'lab')).text).toContain('runbook/lab/drill/2');
    expect(JSON.parse((await run('report', 'show', 'lab/drill/2', '--json')).text)).toMatchObject({
      verdict: 'pass',
      sha256: last.sha256,
    });
    const ok = await run('report', 'verify', dir);
    expect(ok.code).toBe(0);
    expect(ok.text).toContain('pinned the report key');
    expect(ok.text).toContain('head not checked');
    const head = `${last.id}=${last.sha256}`;
    expect((await run('report', 'verify', dir, '--head', head)).code).toBe(0);
    unlinkSync(last.jsonPath);
    const gone = await run('report', 'verify', dir, '--head', head);
    expect(gone.code).toBe(1);
    expect(gone.text).toContain('HEAD_MISSING');
  });

  it('refuses reports signed by another key than the pinned one unless --key names it', async () => {
    await publishReport(drillEvidence(1), { home, keyDir, now });
    expect((await run('report', 'verify', path.join(home, 'reports'))).code).toBe(0);
    rmSync(path.join(home, 'reports', 'lab'), { recursive: true });
    const otherKeys = path.join(path.dirname(keyDir), 'other');
    const r = await publishReport(drillEvidence(1), { home, keyDir: otherKeys, now });
    const refused = await run('report', 'verify', r.jsonPath);
    expect(refused.code).toBe(1);
    expect(refused.text).toContain('KEY_NOT_TRUSTED');
    const keyLine = (JSON.parse(readFileSync(r.jsonPath, 'utf8')) as { key: { publicKey: string } }).key
      .publicKey;
    expect((await run('report', 'verify', r.jsonPath, '--key', keyLine)).code).toBe(0);
    expect((await run('report', 'verify', r.htmlPath, '--key', keyLine)).code).toBe(0);
  });
});
