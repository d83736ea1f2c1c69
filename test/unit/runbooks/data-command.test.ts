import { describe, expect, it } from 'vitest';
import { formatFinding } from '../../../runbooks/findings.ts';
import { compileRunbookText, planHash } from '../../../runbooks/index.ts';
import { findingsOf, runbookText, where } from './fixtures.ts';

const GROUP = [
  '  - name: db',
  '    vms: [db-1]',
  '    checks:',
  '      - { data: {} }',
  '      - data: { command: [sha256sum, /data/marker.txt], within: 1m }',
].join('\n');
const APP = { replication: 'replication: { every: 1m, consistency: application }' };

describe('data: { command }', () => {
  it('is accepted with application consistency and compiles to the check with its argv', () => {
    expect(findingsOf(runbookText(GROUP, APP))).toEqual([]);
    const r = compileRunbookText(runbookText(GROUP, APP), 'rb.yaml');
    expect(r.plan?.groups[0]?.checks).toEqual([
      { id: 'db/check/0', group: 'db', kind: 'data', withinMs: 600_000 },
      {
        id: 'db/check/1',
        group: 'db',
        kind: 'data',
        command: ['sha256sum', '/data/marker.txt'],
        withinMs: 60_000,
      },
    ]);
  });

  it('is refused with crash consistency, at the command, with file, line and column', () => {
    const text = runbookText(GROUP, { replication: 'replication: { every: 1m, consistency: crash }' });
    const fs = findingsOf(text);
    expect(fs.map(formatFinding)).toEqual([
      'rb.yaml:17:26: error: a data check with a command needs replication.consistency: application (it is crash) (the command runs in the guest while it is frozen for the snapshot; crash-consistent points never freeze it)',
    ]);
    expect(compileRunbookText(text, 'rb.yaml').plan).toBeUndefined();
  });

  it('is refused when consistency is left to its default (crash)', () => {
    expect(where(runbookText(GROUP))).toEqual(['17:26 error data-command-needs-application']);
  });

  it('needs at least one argument, each a safe string', () => {
    const empty = GROUP.replace('[sha256sum, /data/marker.txt]', '[]');
    expect(where(runbookText(empty, APP)).length).toBe(1);
    const hostile = GROUP.replace('[sha256sum, /data/marker.txt]', '["a\\u0000b"]');
    expect(where(runbookText(hostile, APP)).length).toBe(1);
  });

  it('leaves the Plan of a runbook without commands as it was (no command key)', () => {
    const plain = runbookText('  - { name: db, vms: [db-1], checks: [{ data: {} }] }');
    const plan = compileRunbookText(plain, 'rb.yaml').plan!;
    expect(Object.keys(plan.groups[0]!.checks[0]!)).not.toContain('command');
    expect(planHash(plan)).toBe(plan.hash);
  });
});
