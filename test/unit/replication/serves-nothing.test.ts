import { describe, expect, it } from 'vitest';
import { type ExportedDisk, servesNothing } from '../../../replication/export/prepare.ts';

const disk = (target: string, unchanged?: boolean): ExportedDisk => ({
  target,
  file: `${target}.qcow2`,
  sha256: 'x',
  size: unchanged ? 0 : 4096,
  parentPointId: 'p1',
  ...(unchanged === undefined ? {} : { unchanged }),
});

describe('servesNothing (an idle point: the secondary fetches no file)', () => {
  it('is true only when every disk is unchanged and every boot file is held by the base', () => {
    expect(servesNothing({ disks: [disk('vda', true), disk('vdb', true)] })).toBe(true);
    expect(
      servesNothing({
        disks: [disk('vda', true)],
        bootFiles: [{ role: 'kernel', file: 'k', sha256: 'x', size: 1, source: '/k', fromPointId: 'p1' }],
      }),
    ).toBe(true);
  });

  it('is false when one disk changed, or a boot file must be shipped', () => {
    expect(servesNothing({ disks: [disk('vda', true), disk('vdb')] })).toBe(false);
    expect(servesNothing({ disks: [disk('vda', true), disk('vdb', false)] })).toBe(false);
    expect(
      servesNothing({
        disks: [disk('vda', true)],
        bootFiles: [{ role: 'kernel', file: 'k', sha256: 'x', size: 1, source: '/k' }],
      }),
    ).toBe(false);
  });
});
