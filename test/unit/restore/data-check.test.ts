import { describe, expect, it } from 'vitest';
import { checkRestoredRecords, type ExpectedRecord } from '../../../restore/data-check.ts';
import { encodeRecord, RECORD_SIZE } from '../../../workload/record.ts';

const SLOTS = 32;
const T0 = 1_796_000_000_000;

/** A ring disk holding records 1..last (wrapping), as a guest device reader. */
function disk(last: number, opts: { damage?: number; extra?: { seq: number; ts: number } } = {}) {
  const buf = Buffer.alloc(SLOTS * RECORD_SIZE);
  for (let seq = Math.max(1, last - SLOTS + 1); seq <= last; seq++) {
    encodeRecord({ seq, timestampMs: T0 + seq, disk: 0, vm: 'db-1' }).copy(
      buf,
      ((seq - 1) % SLOTS) * RECORD_SIZE,
    );
  }
  if (opts.damage) {
    const at = ((opts.damage - 1) % SLOTS) * RECORD_SIZE + 200;
    buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at);
  }
  if (opts.extra) {
    const e = opts.extra;
    encodeRecord({ seq: e.seq, timestampMs: e.ts, disk: 0, vm: 'db-1' }).copy(
      buf,
      ((e.seq - 1) % SLOTS) * RECORD_SIZE,
    );
  }
  return async (_t: string, offset: number, length: number) => buf.subarray(offset, offset + length);
}
const expected = (seq: number, over: Partial<ExpectedRecord> = {}): ExpectedRecord => ({
  target: 'vdb',
  seq,
  timestampMs: T0 + seq,
  disk: 0,
  vm: 'db-1',
  validRecords: seq,
  virtualSize: SLOTS * RECORD_SIZE,
  ...over,
});

describe('checkRestoredRecords', () => {
  it('passes when the record is there, identical, with every record before it, also across the ring wrap', async () => {
    for (const last of [5, 40]) {
      const r = await checkRestoredRecords(disk(last), [expected(last)], T0 + 1_000_000);
      expect(r.ok, r.output).toBe(true);
      expect(r.output).toMatch(new RegExp(`seq ${last} .* found and identical`));
    }
  });
  it('fails on a different record, a damaged earlier record, or a newer record from before the copy booted', async () => {
    expect((await checkRestoredRecords(disk(5), [expected(5, { timestampMs: T0 })], T0 + 1e6)).ok).toBe(
      false,
    );
    const damaged = await checkRestoredRecords(disk(9, { damage: 4 }), [expected(9)], T0 + 1e6);
    expect(damaged.ok).toBe(false);
    expect(damaged.output).toMatch(/first: seq 4/);
    const past = await checkRestoredRecords(
      disk(5, { extra: { seq: 6, ts: T0 + 6 } }),
      [expected(5)],
      T0 + 1e6,
    );
    expect(past.output).toMatch(/data past the point/);
    // Written by the copy itself after it booted: not a finding.
    expect(
      (await checkRestoredRecords(disk(5, { extra: { seq: 6, ts: T0 + 2e6 } }), [expected(5)], T0 + 1e6)).ok,
    ).toBe(true);
  });
  it('fails when the disk holds no such record, or the point recorded none', async () => {
    expect((await checkRestoredRecords(disk(3), [expected(7)], T0 + 1e6)).ok).toBe(false);
    expect((await checkRestoredRecords(disk(3), [], T0 + 1e6)).ok).toBe(false);
  });
});
