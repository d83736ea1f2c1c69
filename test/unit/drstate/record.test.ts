import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  chooseRecord,
  DR_STATE_FORMAT,
  type DrStateRecord,
  drStateDigest,
  drStateOf,
  restoredState,
} from '../../../drstate/record.ts';
import { drStateKey, readNewest, VERSIONS_KEPT, writeRecord } from '../../../drstate/store.ts';
import { initialRunbookState } from '../../../workflows/controller.ts';
import type { RunbookState } from '../../../workflows/types.ts';

function failedOver(): RunbookState {
  return {
    ...initialRunbookState('shop'),
    phase: 'failed-over-committed',
    activeSite: 'secondary',
    protection: 'on',
    fence: {
      site: 'primary',
      reason: 'failed over by runbook/shop/failover/1',
      since: '2026-12-04T10:00:00Z',
    },
    counters: { failover: 1, replication: 7 },
    inFlight: [
      { id: 'runbook/shop/replication/8', kind: 'replication', startedAt: '2026-12-04T10:01:00Z' },
      { id: 'runbook/shop/reprotect/1', kind: 'reprotect', startedAt: '2026-12-04T10:02:00Z', planHash: 'h' },
    ],
  };
}

function record(version: number, state = failedOver()): DrStateRecord {
  return {
    format: DR_STATE_FORMAT,
    runbook: 'shop',
    version,
    writtenAt: '2026-12-04T10:03:00Z',
    cause: 'test',
    state: drStateOf(state),
  };
}

describe('the DR-state record', () => {
  it('keeps the transitions, not the replication cycles that come and go', () => {
    const view = drStateOf(failedOver());
    expect(view.operations.map((o) => o.id)).toEqual(['runbook/shop/reprotect/1']);
    const nextCycle = { ...failedOver(), counters: { failover: 1, replication: 9 }, inFlight: [] };
    const withoutReprotect = drStateOf({ ...nextCycle, inFlight: [] });
    expect(drStateDigest(drStateOf({ ...nextCycle, inFlight: failedOver().inFlight.slice(0, 1) }))).toBe(
      drStateDigest(withoutReprotect),
    );
    expect(drStateDigest(view)).not.toBe(drStateDigest(withoutReprotect));
    // Restored, the controller stands where the record says.
    expect(restoredState('shop', record(3))).toMatchObject({
      phase: 'failed-over-committed',
      activeSite: 'secondary',
      fence: { site: 'primary' },
      inFlight: [{ id: 'runbook/shop/reprotect/1' }],
      recent: [],
    });
  });

  it('restores from the newest version; a site behind is a note, the same version differing is a dispute', () => {
    const found = (site: string, r: DrStateRecord) =>
      ({ site, status: 'found', record: r, signedBy: site, path: `/${site}` }) as const;
    const older = record(2, initialRunbookState('shop'));
    const behind = chooseRecord('shop', [found('east', older), found('west', record(3))]);
    expect(behind).toMatchObject({ from: 'west', record: { version: 3 }, dispute: [] });
    expect(behind.notes[0]).toContain('site east holds version 2, site west 3');

    const split = chooseRecord('shop', [
      found('east', record(3, initialRunbookState('shop'))),
      found('west', record(3)),
    ]);
    expect(split.record).toBeUndefined();
    expect(split.dispute[0]).toMatch(
      /sites east and west both hold version 3 but differ \(east -> west\): phase normal -> failed-over-committed/,
    );

    const gone = chooseRecord('shop', [
      { site: 'east', status: 'unreachable', problem: 'timeout' },
      found('west', record(3)),
    ]);
    expect(gone).toMatchObject({ from: 'west', dispute: [] });
    expect(gone.notes[0]).toContain('site east did not answer');

    expect(
      chooseRecord('shop', [
        { site: 'east', status: 'none' },
        { site: 'west', status: 'none' },
      ]),
    ).toEqual({
      dispute: [],
      notes: [],
    });
    const forged = chooseRecord('shop', [
      {
        site: 'east',
        status: 'unverified',
        path: '/e',
        problem: 'its signature does not match its content',
        version: 4,
      },
      found('west', record(3)),
    ]);
    expect(forged.record).toBeUndefined();
    expect(forged.dispute[0]).toContain("site east's record /e does not verify");
    expect(chooseRecord('shop', [found('west', { ...record(3), runbook: 'other' })]).dispute[0]).toContain(
      'is not a lifeboat-dr-state/1 of runbook shop',
    );
  });
});

describe("a site's store of records", () => {
  const key = drStateKey(randomBytes(32));
  const store = () => mkdtempSync(path.join(tmpdir(), 'lifeboat-drstate-'));

  it('signs each version, answers a retry as already written, and refuses a stale or different one', async () => {
    const dir = store();
    expect(await readNewest(dir, 'east', key, 'shop')).toEqual({ site: 'east', status: 'none' });
    expect((await writeRecord(dir, 'east', key, record(1, initialRunbookState('shop')))).status).toBe(
      'written',
    );
    expect((await writeRecord(dir, 'east', key, record(2))).status).toBe('written');
    expect((await writeRecord(dir, 'east', key, record(2))).status).toBe('already');
    const stale = await writeRecord(dir, 'east', key, record(1, initialRunbookState('shop')));
    expect(stale).toMatchObject({ status: 'conflict', version: 1, held: 2 });
    expect(await writeRecord(dir, 'east', key, { ...record(2), cause: 'another controller' })).toMatchObject({
      status: 'conflict',
      held: 2,
    });
    const newest = await readNewest(dir, 'east', key, 'shop');
    expect(newest).toMatchObject({ status: 'found', signedBy: 'east', record: { version: 2 } });
    // The other site, holding the same key, checks it too; another key does not.
    const copied = mkdtempSync(path.join(tmpdir(), 'lifeboat-drstate-'));
    await writeRecord(copied, 'west', key, record(2));
    expect((await readNewest(copied, 'west', drStateKey(randomBytes(32)), 'shop')).status).toBe('unverified');
  });

  it('a record edited by hand, or planted under a newer version, does not verify', async () => {
    const dir = store();
    await writeRecord(dir, 'east', key, record(1));
    const runbookDir = path.join(dir, 'dr-state', 'shop');
    const file = path.join(runbookDir, readdirSync(runbookDir)[0] as string);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    json.signed.record.state.activeSite = 'primary';
    writeFileSync(file, JSON.stringify(json));
    expect(await readNewest(dir, 'east', key, 'shop')).toMatchObject({
      status: 'unverified',
      problem: 'its signature does not match its content',
    });
    // A valid file copied to a newer version's name names its own version: refused too.
    const good = store();
    await writeRecord(good, 'east', key, record(1));
    const goodDir = path.join(good, 'dr-state', 'shop');
    const text = readFileSync(path.join(goodDir, 'v0000000001.json'), 'utf8');
    writeFileSync(path.join(goodDir, 'v0000000009.json'), text);
    expect(await readNewest(good, 'east', key, 'shop')).toMatchObject({ status: 'unverified' });
    await expect(readNewest(good, 'east', key, '../etc')).rejects.toThrow();
  });

  it(`keeps the newest ${VERSIONS_KEPT} versions`, async () => {
    const dir = store();
    for (let v = 1; v <= VERSIONS_KEPT + 3; v++) await writeRecord(dir, 'east', key, record(v));
    const names = readdirSync(path.join(dir, 'dr-state', 'shop')).sort();
    expect(names.length).toBe(VERSIONS_KEPT);
    expect(names[0]).toBe('v0000000004.json');
  });
});
