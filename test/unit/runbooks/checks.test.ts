import { describe, expect, it } from 'vitest';
import { formatFinding } from '../../../runbooks/findings.ts';
import { checkRunbookText } from '../../../runbooks/index.ts';
import { ALICE_KEY, findingsOf, ONE_GROUP, runbookText, where } from './fixtures.ts';

function only(text: string) {
  const fs = findingsOf(text);
  expect(fs, fs.map(formatFinding).join('\n')).toHaveLength(1);
  return fs[0]!;
}

describe('a valid runbook', () => {
  it('has no findings and yields the runbook', () => {
    const r = checkRunbookText(runbookText(ONE_GROUP), 'rb.yaml');
    expect(r.findings).toEqual([]);
    expect(r.runbook?.groups[0]?.name).toBe('a');
  });

  it('accepts the yaml-language-server schema comment on the first line', () => {
    const text = `# yaml-language-server: $schema=../runbook.schema.json\n${runbookText(ONE_GROUP)}`;
    expect(findingsOf(text)).toEqual([]);
  });
});

describe('YAML syntax', () => {
  it('reports an unclosed flow sequence and stops there', () => {
    const fs = findingsOf(runbookText('  - { name: a, vms: [a-1 }'));
    expect(fs.length).toBeGreaterThan(0);
    expect(fs.every((f) => f.code === 'yaml-syntax' && f.line === 13)).toBe(true);
  });

  it('reports a duplicate key at the second key', () => {
    const f = only(runbookText(ONE_GROUP, { metadata: 'metadata: { name: t, name: u, owner: o }' }));
    expect([f.code, f.line, f.col]).toEqual(['yaml-syntax', 3, 22]);
  });

  it('formats a finding as file:line:col: severity: message (hint)', () => {
    const f = only(runbookText('  - { name: a, vms: [a-1], dependson: [b] }'));
    expect(formatFinding(f)).toBe(
      "rb.yaml:13:28: error: unknown key 'dependson' (did you mean 'dependsOn'?)",
    );
  });
});

describe('shape', () => {
  it('points an unknown top-level key at the key, with a did-you-mean', () => {
    const f = only(runbookText(ONE_GROUP, { extra: 'drils: { every: 7d }' }));
    expect([f.line, f.col, f.code, f.hint, f.path]).toEqual([
      11,
      1,
      'unknown-key',
      "did you mean 'drill'?",
      'drils',
    ]);
  });

  it('points an unknown key inside a step at the key', () => {
    const f = only(
      runbookText('  - name: a\n    vms: [a-1]\n    before:\n      - approval: { role: ic, withn: 5m }'),
    );
    expect([f.line, f.col, f.hint, f.path]).toEqual([
      16,
      31,
      "did you mean 'within'?",
      'groups[0].before[0].approval.withn',
    ]);
  });

  it('names the step forms when a step key is misspelt', () => {
    const f = only(runbookText('  - name: a\n    vms: [a-1]\n    before:\n      - aproval: { role: ic }'));
    expect([f.line, f.col, f.code, f.hint]).toEqual([16, 9, 'unknown-key', "did you mean 'approval'?"]);
  });

  it('refuses a step with two forms at once', () => {
    const f = only(
      runbookText(
        '  - name: a\n    vms: [a-1]\n    after:\n      - { wait: { for: 1m }, run: { command: x } }',
      ),
    );
    expect([f.line, f.col, f.code]).toEqual([16, 9, 'shape']);
    expect(f.message).toContain('exactly one of approval, run, wait');
  });

  it('reports a missing required key at the map that lacks it', () => {
    const f = only(runbookText(ONE_GROUP, { objectives: 'objectives: { rpo: 10m }' }));
    expect([f.line, f.col, f.code, f.message]).toEqual([4, 13, 'missing-key', "missing required key 'rto'"]);
  });

  it('reports a wrong type at the value', () => {
    const f = only(runbookText('  - { name: a, vms: a-1 }'));
    expect([f.line, f.col, f.code, f.message]).toEqual([
      13,
      21,
      'shape',
      'expected array, got the string "a-1"',
    ]);
  });

  it('reports an out-of-range port and an enum outside its values', () => {
    const text = runbookText('  - { name: a, vms: [a-1], onFailure: retry, checks: [{ tcp: { port: 0 } }] }');
    expect(where(text)).toEqual(['13:39 error shape', '13:70 error shape']);
    expect(findingsOf(text)[0]?.hint).toBe('expected one of: rollback, pause, continue');
  });

  it('reports a wrong apiVersion', () => {
    const f = only(runbookText(ONE_GROUP).replace('lifeboat/v1', 'lifeboat/v2'));
    expect([f.line, f.col, f.code]).toEqual([1, 13, 'shape']);
  });

  it('reports a document that is not a map at 1:1', () => {
    const f = only('- just\n- a list\n');
    expect([f.line, f.col, f.code]).toEqual([1, 1, 'shape']);
  });
});

describe('groups and dependencies', () => {
  it('reports a dependsOn naming no group, at the entry', () => {
    const f = only(
      runbookText('  - name: a\n    vms: [a-1]\n  - name: b\n    vms: [b-1]\n    dependsOn: [a, x]'),
    );
    expect([f.line, f.col, f.code]).toEqual([17, 20, 'unknown-dependency']);
  });

  it('suggests the closest group name', () => {
    const f = only(
      runbookText(
        '  - name: database\n    vms: [a-1]\n  - name: b\n    vms: [b-1]\n    dependsOn: [databse]',
      ),
    );
    expect(f.hint).toBe("did you mean 'database'?");
  });

  it('names a cycle in order, at the edge that closes it', () => {
    const groups = [
      '  - { name: a, vms: [a-1], dependsOn: [c] }',
      '  - { name: b, vms: [b-1], dependsOn: [a] }',
      '  - { name: c, vms: [c-1], dependsOn: [b] }',
    ].join('\n');
    const f = only(runbookText(groups));
    expect([f.line, f.col, f.code, f.message]).toEqual([
      14,
      40,
      'dependency-cycle',
      'dependency cycle: a -> c -> b -> a',
    ]);
  });

  it('reports a group depending on itself', () => {
    const f = only(runbookText('  - { name: a, vms: [a-1], dependsOn: [a] }'));
    expect([f.line, f.col, f.message]).toEqual([13, 40, 'dependency cycle: a -> a']);
  });

  it('reports a VM in two groups at its second occurrence', () => {
    const f = only(runbookText('  - { name: a, vms: [a-1, x] }\n  - { name: b, vms: [x] }'));
    expect([f.line, f.col, f.code]).toEqual([14, 22, 'duplicate-vm']);
  });

  it('reports a VM listed twice in one group', () => {
    const f = only(runbookText('  - { name: a, vms: [x, x] }'));
    expect([f.line, f.col, f.code, f.message]).toEqual([
      13,
      25,
      'duplicate-vm',
      "VM 'x' is listed twice in group 'a'",
    ]);
  });

  it('reports a duplicate group name at the second name', () => {
    const f = only(runbookText('  - { name: a, vms: [a-1] }\n  - { name: a, vms: [a-2] }'));
    expect([f.line, f.col, f.code]).toEqual([14, 13, 'duplicate-group']);
  });

  it('reports an empty group at its vms', () => {
    const f = only(runbookText('  - { name: a, vms: [] }'));
    expect([f.line, f.col, f.code]).toEqual([13, 21, 'empty-group']);
  });

  it('reports a runbook without groups', () => {
    const f = only(runbookText('  []').replace('groups:\n  []', 'groups: []'));
    expect([f.line, f.col, f.code]).toEqual([12, 9, 'shape']);
  });
});

describe('networks and sites', () => {
  it('reports a drill network role the secondary does not map, at drill.network', () => {
    const f = only(runbookText(ONE_GROUP, { extra: 'drill: { network: sandbox }' }));
    expect([f.line, f.col, f.code]).toEqual([11, 19, 'unmapped-network']);
    expect(f.message).toBe("network role 'sandbox' (drills) is not mapped on the secondary site");
  });

  it('reports the default production role missing on the primary, at its networks', () => {
    const primary =
      '  primary: { driver: libvirt, uri: "qemu:///system", storage: /p, networks: { lan: x } }';
    const f = only(runbookText(ONE_GROUP, { primary }));
    expect([f.line, f.col, f.code]).toEqual([8, 77, 'unmapped-network']);
    expect(f.message).toContain('(failback)');
  });

  it('reports a site with no networks at the site', () => {
    const primary = '  primary: { driver: libvirt, uri: "qemu:///system", storage: /p }';
    const f = only(runbookText(ONE_GROUP, { primary }));
    expect([f.line, f.col, f.code]).toEqual([8, 12, 'unmapped-network']);
  });

  it('reports two sites with the same name', () => {
    const primary =
      '  primary: { name: x, driver: libvirt, uri: "qemu:///system", storage: /p, networks: { production: p } }';
    const secondary =
      '  secondary: { name: x, driver: libvirt, uri: "q", storage: /s, networks: { production: d, bubble: b } }';
    const f = only(runbookText(ONE_GROUP, { primary, secondary }));
    expect([f.line, f.col, f.code]).toEqual([9, 22, 'duplicate-site-name']);
  });
});

describe('operators, roles and keys', () => {
  it('reports a role with no operators', () => {
    const f = only(runbookText(ONE_GROUP, { roles: 'roles: { ic: [alice], empty: [] }' }));
    expect([f.line, f.col, f.code]).toEqual([6, 30, 'role-without-operators']);
  });

  it('reports an undeclared operator in a role, with a did-you-mean', () => {
    const f = only(runbookText(ONE_GROUP, { roles: 'roles: { ic: [alice, alcie] }' }));
    expect([f.line, f.col, f.code, f.hint]).toEqual([6, 22, 'unknown-operator', "did you mean 'alice'?"]);
  });

  it('reports an approval naming an undeclared role', () => {
    const f = only(runbookText('  - name: a\n    vms: [a-1]\n    before: [{ approval: { role: icc } }]'));
    expect([f.line, f.col, f.code, f.hint]).toEqual([15, 34, 'unknown-role', "did you mean 'ic'?"]);
  });

  it('reports administrators naming an undeclared role, at its line and column', () => {
    const f = only(runbookText(ONE_GROUP, { extra: 'administrators: [ic, icc]' }));
    expect([f.line, f.col, f.code, f.hint]).toEqual([11, 22, 'unknown-role', "did you mean 'ic'?"]);
    expect(f.message).toBe("administrators names role 'icc', which is not declared");
  });

  it('refuses an empty administrators list', () => {
    const f = only(runbookText(ONE_GROUP, { extra: 'administrators: []' }));
    expect([f.line, f.col]).toEqual([11, 17]);
  });

  it.each([
    ['ed25519:AAAA', 'key decodes to 3 bytes, not 32'],
    ['rsa:AAAA', "key does not start with 'ed25519:'"],
    ['ed25519:not base64!', 'key is not valid base64'],
    // 32 bytes whose y coordinate is not on the curve (2^255 - 1 is not a field element).
    ['ed25519:////////////////////////////////////////f38=', 'key is not a valid Ed25519 point'],
  ])('refuses the key %s', (key, message) => {
    const f = only(runbookText(ONE_GROUP, { operators: `operators: { alice: { key: "${key}" } }` }));
    expect([f.line, f.col, f.code, f.message]).toEqual([5, 28, 'bad-key', message]);
  });
});

describe('durations and objectives', () => {
  it.each([
    ['5 minutes', "'5 minutes' is not a duration"],
    ['0s', "duration '0s' is zero"],
    ['-5m', "duration '-5m' is negative"],
  ])('refuses rpo %s at the value', (rpo, message) => {
    const f = only(runbookText(ONE_GROUP, { objectives: `objectives: { rpo: "${rpo}", rto: 1h }` }));
    expect([f.line, f.col, f.code, f.message]).toEqual([4, 20, 'bad-duration', message]);
  });

  it('refuses a duration without a unit', () => {
    const f = only(runbookText(ONE_GROUP, { replication: 'replication: { every: 60 }' }));
    expect([f.line, f.col, f.code]).toEqual([10, 23, 'bad-duration']);
  });

  it('is an error when replication is slower than the RPO', () => {
    const f = only(runbookText(ONE_GROUP, { replication: 'replication: { every: 11m }' }));
    expect([f.line, f.col, f.severity, f.code]).toEqual([10, 23, 'error', 'replication-exceeds-rpo']);
  });

  it('warns when replication is slower than half the RPO, and the runbook still passes', () => {
    const text = runbookText(ONE_GROUP, { replication: 'replication: { every: 6m }' });
    const r = checkRunbookText(text, 'rb.yaml');
    expect(r.findings.map((f) => [f.line, f.col, f.severity, f.code])).toEqual([
      [10, 23, 'warning', 'replication-near-rpo'],
    ]);
    expect(r.runbook).toBeDefined();
  });

  it('warns when approval waits on the critical path add up past the RTO, at the approval that crosses it', () => {
    const groups = [
      '  - { name: a, vms: [a-1], before: [{ approval: { role: ic, within: 40m } }] }',
      '  - { name: b, vms: [b-1], dependsOn: [a], before: [{ approval: { role: ic, within: 5m } }] }',
      '  - { name: c, vms: [c-1], dependsOn: [a], before: [{ approval: { role: ic, within: 25m } }] }',
      '  - { name: d, vms: [d-1], dependsOn: [b, c] }',
    ].join('\n');
    const f = only(runbookText(groups));
    expect([f.line, f.col, f.severity, f.code]).toEqual([15, 85, 'warning', 'approvals-exceed-rto']);
    expect(f.message).toBe('approval waits on the path a -> c add up to 1h5m, past the RTO of 1h');
  });

  it('counts only approvals that failover runs', () => {
    const groups =
      '  - { name: a, vms: [a-1], before: [{ approval: { role: ic, within: 2h, in: [drill] } }] }';
    expect(findingsOf(runbookText(groups))).toEqual([]);
  });
});

describe('unsafe names', () => {
  it.each([
    ['"a/b"', 'contains a path separator'],
    ['"a..b"', "contains '..'"],
    ['"a;b"', 'contains a shell metacharacter or space'],
    ['"a b"', 'contains a shell metacharacter or space'],
    ['"a\\tb"', 'contains a control character'],
    ['"-rf"', "starts with '-'"],
    [`${'x'.repeat(65)}`, 'over 64'],
  ])('refuses the VM name %s', (name, reason) => {
    const f = only(runbookText(`  - { name: a, vms: [${name}] }`));
    expect([f.line, f.col, f.code]).toEqual([13, 22, 'bad-name']);
    expect(f.message).toContain(reason);
  });

  it('refuses a hook command that is a path', () => {
    const f = only(runbookText('  - name: a\n    vms: [a-1]\n    after: [{ run: { command: ../bin/sh } }]'));
    expect([f.line, f.col, f.code]).toEqual([15, 31, 'bad-name']);
  });

  it('refuses an HTTP check path with a space or a line break, at the path', () => {
    for (const path of ['"/a b"', '"/x\\r\\nHost: evil"']) {
      const f = only(
        runbookText(`  - name: a\n    vms: [a-1]\n    checks: [{ http: { port: 80, path: ${path} } }]`),
      );
      expect([f.line, f.col, f.code]).toEqual([15, 40, 'bad-name']);
    }
  });

  it('refuses a control character in an agent check argument, at the argument', () => {
    const f = only(
      runbookText(
        '  - name: a\n    vms: [a-1]\n    checks: [{ agent: { command: [/bin/echo, "a\\u0007"] } }]',
      ),
    );
    expect([f.line, f.col, f.code]).toEqual([15, 46, 'bad-name']);
    expect(f.message).toContain('control character');
  });

  it("refuses a storage path that climbs out with '..'", () => {
    const primary =
      '  primary: { driver: libvirt, uri: "qemu:///system", storage: /srv/../etc, networks: { production: prod } }';
    const f = only(runbookText(ONE_GROUP, { primary }));
    expect([f.line, f.col, f.code]).toEqual([8, 63, 'bad-name']);
    expect(f.message).toContain("'..'");
  });

  it('refuses unsafe operator, role and site names', () => {
    const text = runbookText(ONE_GROUP, {
      operators: `operators: { "al ice": { key: "${ALICE_KEY}" } }`,
      roles: 'roles: { "ic;rm": [alice] }',
      primary:
        '  primary: { name: "../p", driver: libvirt, uri: "qemu:///system", storage: /p, networks: { production: prod } }',
    });
    // Each at the offending key or value, with the reason.
    expect(where(text).filter((w) => w.endsWith('bad-name'))).toEqual([
      '5:14 error bad-name',
      '6:10 error bad-name',
      '8:20 error bad-name',
    ]);
    expect(findingsOf(text)[0]?.message).toContain('operator name "al ice" contains a shell metacharacter');
  });

  it('refuses unsafe group, runbook and network names', () => {
    const text = runbookText('  - { name: "a|b", vms: [a-1] }', {
      metadata: 'metadata: { name: "../x", owner: o }',
    });
    expect(where(text)).toEqual(['3:19 error bad-name', '13:13 error bad-name']);
  });
});

describe('all at once', () => {
  it('reports shape and semantic findings together, sorted by position', () => {
    const groups = '  - { name: a, vms: [a-1], dependsOn: [zz], onFailure: maybe }\n  - { name: b, vms: [] }';
    const text = runbookText(groups, { replication: 'replication: { every: 20m }' });
    expect(where(text)).toEqual([
      '10:23 error replication-exceeds-rpo',
      '13:40 error unknown-dependency',
      '13:56 error shape',
      '14:21 error empty-group',
    ]);
  });
});
