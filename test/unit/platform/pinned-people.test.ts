import { describe, expect, it } from 'vitest';
import { peopleFingerprint, peopleOf } from '../../../approvals/people.ts';
import { renderPinnedPeople } from '../../../platform/pinned-people.ts';
import type { PinnedPeople } from '../../../workflows/types.ts';

const people = peopleOf({
  operators: { alice: { key: 'ed25519:xv2+Xjqb4mVBvQA+kLgOqNuH4SXja3LbYJWGn9Gj10o=' } },
  roles: { 'incident-commander': ['alice'] },
});
const pinned: PinnedPeople = {
  ...people,
  fingerprint: peopleFingerprint(people),
  pinnedAt: '2026-12-04T08:00:00.000Z',
  planHash: 'abc',
  changes: [],
};

describe('status: who may decide', () => {
  it('shows the pinned set, its fingerprint and who may sign a change', () => {
    const text = renderPinnedPeople([{ runbook: 'lab', people: pinned }, { runbook: 'new' }]);
    expect(text.split('\n')).toEqual([
      'Who may decide:',
      `  lab: pinned ${pinned.fingerprint} at 2026-12-04 08:00:00`,
      '    operators: alice ed25519:xv2+Xjqb4mVB...',
      '    roles: incident-commander: alice',
      '    changes signed by: incident-commander (every role: the runbook names no administrators)',
      "  new: nothing pinned yet (its first operation pins the Plan's people)",
    ]);
  });

  it('shows the last signed change', () => {
    const change = {
      stepId: 'people:a->b',
      group: '',
      decision: 'change-people' as const,
      operator: 'bob',
      role: 'admin',
      reason: 'carol joins',
      signedAt: '',
      recordedAt: '',
      signature: 's',
      from: 'a',
      to: 'b',
      diff: ['operator carol added'],
    };
    const text = renderPinnedPeople([{ runbook: 'lab', people: { ...pinned, changes: [change] } }]);
    expect(text).toContain('    last change: operator carol added by bob (carol joins)');
  });
});
