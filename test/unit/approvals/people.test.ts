import { describe, expect, it } from 'vitest';
import {
  administeringRoles,
  peopleChangeStepId,
  peopleDiff,
  peopleFingerprint,
  peopleOf,
} from '../../../approvals/people.ts';

const base = {
  operators: { alice: { key: 'ed25519:A' }, bob: { key: 'ed25519:B' } },
  roles: { ic: ['alice', 'bob'], admin: ['bob'] },
  administrators: ['admin'],
};

describe('pinned people', () => {
  it('has one fingerprint whatever the order of role members and administrators', () => {
    const reordered = {
      operators: { bob: { key: 'ed25519:B' }, alice: { key: 'ed25519:A' } },
      roles: { admin: ['bob'], ic: ['bob', 'alice'] },
      administrators: ['admin'],
    };
    expect(peopleFingerprint(peopleOf(reordered))).toBe(peopleFingerprint(peopleOf(base)));
    expect(peopleFingerprint(peopleOf(base))).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('changes its fingerprint for a key, a member, a role or an administrator', () => {
    const fp = peopleFingerprint(peopleOf(base));
    const variants = [
      { ...base, operators: { ...base.operators, bob: { key: 'ed25519:C' } } },
      { ...base, roles: { ...base.roles, ic: ['alice'] } },
      { ...base, roles: { ...base.roles, observer: ['alice'] } },
      { ...base, administrators: ['ic'] },
      { operators: base.operators, roles: base.roles },
    ];
    for (const v of variants) expect(peopleFingerprint(peopleOf(v))).not.toBe(fp);
  });

  it('says what a change does, one line each', () => {
    const to = peopleOf({
      operators: { alice: { key: 'ed25519:A2' }, carol: { key: 'ed25519:C' } },
      roles: { ic: ['alice', 'carol'], admin: ['carol'] },
      administrators: ['admin', 'ic'],
    });
    expect(peopleDiff(peopleOf(base), to)).toEqual([
      "operator alice's key changed",
      'operator bob removed',
      'operator carol added',
      'role admin gains carol',
      'role admin loses bob',
      'role ic gains carol',
      'role ic loses bob',
      'administrators admin -> admin, ic',
    ]);
    expect(peopleDiff(peopleOf(base), peopleOf(base))).toEqual([]);
  });

  it('lets the administrators sign a change, or every role when the runbook names none', () => {
    expect(administeringRoles(peopleOf(base))).toEqual(['admin']);
    expect(administeringRoles(peopleOf({ operators: base.operators, roles: base.roles }))).toEqual([
      'admin',
      'ic',
    ]);
    expect(peopleChangeStepId('sha256:a', 'sha256:b')).toBe('people:sha256:a->sha256:b');
  });
});
