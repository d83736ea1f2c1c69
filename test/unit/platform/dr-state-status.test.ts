import { describe, expect, it } from 'vitest';
import { drStateRows, renderDrState } from '../../../platform/dr-state-status.ts';
import { initialRunbookState } from '../../../workflows/controller.ts';
import type { RunbookState } from '../../../workflows/types.ts';

const at = '2026-12-04T10:00:00.000Z';

describe('status: the DR state at the sites', () => {
  it('shows the version each site holds, the last change, a restore and a dispute', () => {
    const kept: RunbookState = {
      ...initialRunbookState('lab'),
      phase: 'failed-over-committed',
      activeSite: 'secondary',
      durable: {
        version: 7,
        digest: 'sha256:x',
        sites: ['primary', 'secondary'],
        acked: {
          primary: { version: 5, at, error: 'schedule-to-start timeout' },
          secondary: { version: 7, at },
        },
        restored: { at, from: 'secondary', version: 6, notes: ['site primary did not answer (timeout)'] },
      },
    };
    const disputed: RunbookState = {
      ...initialRunbookState('shop'),
      durable: {
        version: 0,
        digest: '',
        sites: ['east', 'west'],
        acked: {},
        dispute: {
          at,
          found: ["site west's record /s/v0000000003.json does not verify"],
          versions: { west: 3 },
        },
      },
    };
    const states = new Map([
      ['lab', kept],
      ['shop', disputed],
      ['old', { ...initialRunbookState('old') }],
    ]);
    const text = renderDrState(drStateRows(['lab', 'shop', 'old', 'gone'], states));
    expect(text.split('\n')).toEqual([
      'DR state at the sites:',
      '  lab: version 7, failed-over-committed, production at secondary; held by primary v5 (behind) (last write failed: schedule-to-start timeout), secondary v7',
      '    restored 2026-12-04 10:00:00: from secondary v6',
      '      site primary did not answer (timeout)',
      '  shop: version 0, normal, production at primary; held by east none yet, west none yet',
      '    IN DISPUTE since 2026-12-04 10:00:00: every operation is refused until an operator decides',
      "      site west's record /s/v0000000003.json does not verify",
      '  old: not kept at the sites (controller started before DR-state records)',
      '  gone: its controller did not answer',
    ]);
  });
});
