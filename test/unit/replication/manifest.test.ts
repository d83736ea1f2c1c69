import { describe, expect, it } from 'vitest';
import { isReplicationError } from '../../../replication/errors.ts';
import { parseManifest, pointFiles, pointKind, serializeManifest } from '../../../replication/manifest.ts';
import { recoveryPoint } from '../../support/manifests.ts';

function invalidPaths(text: string): string[] {
  try {
    parseManifest(text, 'm.json');
  } catch (e) {
    if (isReplicationError(e, 'MANIFEST_INVALID')) return (e.context.issues as string[]) ?? [];
    throw e;
  }
  return [];
}

describe('recovery-point manifest', () => {
  it('round-trips through its JSON form', () => {
    const m = recoveryPoint();
    expect(parseManifest(serializeManifest(m), 'm.json')).toEqual(m);
  });

  it('refuses a downgraded consistency without a reason, accepts it with one', () => {
    const bad = recoveryPoint({ consistency: { requested: 'application', achieved: 'crash' } });
    expect(invalidPaths(JSON.stringify(bad)).join()).toMatch(/consistency\.reason/);
    const ok = recoveryPoint({
      consistency: { requested: 'application', achieved: 'crash', reason: 'fsfreeze timed out' },
    });
    expect(invalidPaths(JSON.stringify(ok))).toEqual([]);
  });

  it('keeps a guest left frozen by failed thaws with the point, never an empty note', () => {
    const frozen = recoveryPoint({ guestFrozen: 'thaw failed 6 times: agent timeout' });
    expect(parseManifest(serializeManifest(frozen), 'm.json').guestFrozen).toBe(
      'thaw failed 6 times: agent timeout',
    );
    expect(invalidPaths(JSON.stringify(recoveryPoint({ guestFrozen: '' }))).join()).toMatch(/guestFrozen/);
  });

  it('refuses file names that would leave the point directory', () => {
    const m = recoveryPoint();
    m.disks[0]!.files[0]!.path = '../p1/vda.qcow2';
    expect(invalidPaths(JSON.stringify(m)).join()).toMatch(/disks\.0\.files\.0\.path/);
  });

  it('refuses another schema version and non-JSON', () => {
    expect(invalidPaths(JSON.stringify({ ...recoveryPoint(), schemaVersion: 2 })).join()).toMatch(
      /schemaVersion/,
    );
    expect(() => parseManifest('{"apiVersion"', 'm.json')).toThrow(/not JSON/);
  });

  it('says full only when every disk is a full copy', () => {
    expect(pointKind(recoveryPoint())).toBe('incremental');
    const full = recoveryPoint();
    full.disks[0]!.parentPointId = null;
    expect(pointKind(full)).toBe('full');
  });

  it('lists boot files and disk files as the files to verify', () => {
    expect(pointFiles(recoveryPoint()).map((f) => f.path)).toEqual(['vmlinuz', 'vda.qcow2', 'vda.blocks']);
  });
});
