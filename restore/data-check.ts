/**
 * Proves a restored VM's data from inside it: on each data disk, read through the guest, the
 * record the point's manifest names must be there, valid and identical (sequence, time, CRC),
 * every record before it in the ring must be valid and in sequence, and no record written before
 * the copy booted may follow it (that would be data past the point). Pure: the reader is given.
 */
import { decodeRecord, RECORD_SIZE, type WorkloadRecord } from '../workload/record.ts';

/** The manifest's record for one disk, with what is needed to find it on the device. */
export interface ExpectedRecord {
  target: string;
  seq: number;
  timestampMs: number;
  disk: number;
  vm: string;
  crc?: number;
  validRecords: number;
  /** The disk's size: the ring has size / 4096 slots. */
  virtualSize: number;
}

export type DeviceReader = (target: string, offset: number, length: number) => Promise<Buffer>;

export interface DataCheckOutcome {
  ok: boolean;
  /** One line per disk, what was compared and found. */
  output: string;
}

/** At most this many records before the expected one are read per disk (4 MiB). */
export const MAX_WINDOW = 1024;

export async function checkRestoredRecords(
  read: DeviceReader,
  expected: readonly ExpectedRecord[],
  writtenBeforeMs: number,
): Promise<DataCheckOutcome> {
  const lines: string[] = [];
  let ok = expected.length > 0;
  if (!ok) lines.push('the point recorded no workload records to compare');
  for (const e of expected) {
    const r = await checkDisk(read, e, writtenBeforeMs);
    ok &&= r.ok;
    lines.push(`${e.target}: ${r.line}`);
  }
  return { ok, output: lines.join('\n') };
}

async function checkDisk(
  read: DeviceReader,
  e: ExpectedRecord,
  writtenBeforeMs: number,
): Promise<{ ok: boolean; line: string }> {
  const slots = Math.floor(e.virtualSize / RECORD_SIZE);
  if (slots < 2) return { ok: false, line: `disk too small for a record ring (${e.virtualSize} bytes)` };
  const before = Math.min(e.validRecords, slots - 1, MAX_WINDOW + 1) - 1;
  const first = Math.max(1, e.seq - Math.max(0, before));
  // The window [first, seq + 1], read as at most two contiguous ranges of the ring.
  const records = new Map<number, WorkloadRecord | undefined>();
  for (const [from, to] of ranges(first, e.seq + 1, slots)) {
    const buf = await read(e.target, slotOf(from, slots) * RECORD_SIZE, (to - from + 1) * RECORD_SIZE);
    for (let s = from; s <= to; s++) {
      const off = (s - from) * RECORD_SIZE;
      records.set(s, off + RECORD_SIZE <= buf.length ? decodeRecord(buf, off) : undefined);
    }
  }
  const found = records.get(e.seq);
  const want = `seq ${e.seq} at ${new Date(e.timestampMs).toISOString()}${e.crc === undefined ? '' : ` crc ${hex(e.crc)}`}`;
  if (!found)
    return { ok: false, line: `expected ${want}; slot ${slotOf(e.seq, slots)} holds no valid record` };
  const same =
    found.seq === e.seq &&
    found.timestampMs === e.timestampMs &&
    found.vm === e.vm &&
    found.disk === e.disk &&
    (e.crc === undefined || found.crc === e.crc);
  if (!same) {
    return {
      ok: false,
      line: `expected ${want}; found seq ${found.seq} at ${new Date(found.timestampMs).toISOString()} crc ${hex(found.crc ?? 0)} (vm ${found.vm}, disk ${found.disk})`,
    };
  }
  const broken: number[] = [];
  for (let s = first; s < e.seq; s++) if (records.get(s)?.seq !== s) broken.push(s);
  const next = records.get(e.seq + 1);
  const past = next !== undefined && next.seq > e.seq && next.timestampMs <= writtenBeforeMs;
  const checked = `${e.seq - first} records before it valid and in sequence`;
  if (broken.length > 0) {
    return {
      ok: false,
      line: `${want} found, but ${broken.length} of the ${e.seq - first} records before it are missing or damaged (first: seq ${broken[0]})`,
    };
  }
  if (past) {
    return {
      ok: false,
      line: `${want} found, but seq ${next.seq} written at ${new Date(next.timestampMs).toISOString()} follows it: the disk holds data past the point`,
    };
  }
  return {
    ok: true,
    line: `${want} found and identical; ${checked}; nothing past it from before the copy booted`,
  };
}

function slotOf(seq: number, slots: number): number {
  return (seq - 1) % slots;
}

/** Splits [from, to] (sequence numbers) where the ring wraps. */
function ranges(from: number, to: number, slots: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = from;
  for (let s = from; s <= to; s++) {
    if (s === to || slotOf(s + 1, slots) === 0) {
      out.push([start, s]);
      start = s + 1;
    }
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
