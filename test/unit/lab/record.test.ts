import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  decodeRecord,
  encodeRecord,
  RECORD_SIZE,
  RecordScanner,
  scanBuffer,
} from '../../../workload/record.ts';

describe('workload record format', () => {
  it('round-trips every field', () => {
    const rec = { seq: 123_456_789_012, timestampMs: 1_764_000_000_123, disk: 1, vm: 'db-1' };
    const buf = encodeRecord(rec);
    expect(buf.length).toBe(RECORD_SIZE);
    expect(decodeRecord(buf)).toEqual({ ...rec, crc: buf.readUInt32LE(RECORD_SIZE - 4) });
  });

  it('computes the same CRC-32 as zlib', () => {
    const buf = encodeRecord({ seq: 7, timestampMs: 1, disk: 0, vm: 'x' });
    expect(crc32(buf)).toBe(zlibCrc32(buf));
  });

  it('rejects a torn or corrupted record', () => {
    const buf = encodeRecord({ seq: 5, timestampMs: 1, disk: 0, vm: 'app-1' });
    for (const at of [0, 20, 200, RECORD_SIZE - 1]) {
      const bad = Buffer.from(buf);
      bad[at] = bad[at]! ^ 0x01;
      expect(decodeRecord(bad)).toBeUndefined();
    }
    const torn = Buffer.from(buf);
    torn.fill(0, 2048);
    expect(decodeRecord(torn)).toBeUndefined();
    expect(decodeRecord(Buffer.alloc(RECORD_SIZE))).toBeUndefined();
    expect(decodeRecord(buf.subarray(0, 100))).toBeUndefined();
  });

  it('refuses names and sequence numbers the format cannot hold', () => {
    expect(() => encodeRecord({ seq: 0, timestampMs: 1, disk: 0, vm: 'a' })).toThrow(RangeError);
    expect(() => encodeRecord({ seq: 1, timestampMs: 1, disk: 0, vm: 'a'.repeat(65) })).toThrow(RangeError);
  });

  it('finds the highest sequence number in a wrapped ring and counts torn slots', () => {
    const slots = 8;
    const disk = Buffer.alloc(slots * RECORD_SIZE);
    // 11 records in an 8-slot ring: slots hold 9, 10, 11, 4, 5, 6, 7, 8.
    for (let seq = 1; seq <= 11; seq++) {
      encodeRecord({ seq, timestampMs: seq, disk: 0, vm: 'web-1' }).copy(
        disk,
        ((seq - 1) % slots) * RECORD_SIZE,
      );
    }
    // A torn write of seq 12 into slot 3 (half written).
    encodeRecord({ seq: 12, timestampMs: 12, disk: 0, vm: 'web-1' }).copy(disk, 3 * RECORD_SIZE, 0, 2048);
    const r = scanBuffer(disk);
    expect(r.lastSeq).toBe(11);
    expect(r.last?.vm).toBe('web-1');
    expect(r.validRecords).toBe(7);
    expect(r.invalidSlots).toBe(1);
    expect(r.slots).toBe(slots);
  });

  it('scans in chunks exactly as in one piece', () => {
    const disk = Buffer.alloc(16 * RECORD_SIZE);
    for (const seq of [3, 9, 1])
      encodeRecord({ seq, timestampMs: 0, disk: 0, vm: 'a' }).copy(disk, seq * RECORD_SIZE);
    const s = new RecordScanner();
    for (let off = 0; off < disk.length; off += 3 * RECORD_SIZE)
      s.push(disk.subarray(off, off + 3 * RECORD_SIZE));
    expect(s.done()).toEqual(scanBuffer(disk));
    expect(s.done().lastSeq).toBe(9);
  });

  it('decodes byte for byte what the guest program (lab/guest/workload.c) writes', () => {
    // The real guest writer, compiled for the host, writes 11 records into a 4-slot ring file.
    const dir = mkdtempSync(path.join(tmpdir(), 'lb-record-'));
    try {
      const bin = path.join(dir, 'workload');
      execFileSync('gcc', [
        '-O2',
        '-o',
        bin,
        path.join(import.meta.dirname, '../../../lab/guest/workload.c'),
      ]);
      const a = path.join(dir, 'a.img');
      const b = path.join(dir, 'b.img');
      writeFileSync(a, Buffer.alloc(4 * RECORD_SIZE));
      writeFileSync(b, Buffer.alloc(4 * RECORD_SIZE));
      const out = execFileSync(bin, ['vm-x', '1000', a, b], { env: { LB_WORKLOAD_COUNT: '11' } }).toString();
      expect(out).toContain('LBACK vm=vm-x seq=11');
      for (const [disk, file] of [a, b].entries()) {
        const bytes = readFileSync(file);
        const scan = scanBuffer(bytes);
        expect(scan).toMatchObject({ lastSeq: 11, validRecords: 4, invalidSlots: 0 });
        expect(scan.last).toMatchObject({ vm: 'vm-x', disk, seq: 11 });
        // Slot (11 - 1) % 4 = 2 holds seq 11, identical to what the TypeScript encoder builds.
        const rec = bytes.subarray(2 * RECORD_SIZE, 3 * RECORD_SIZE);
        expect(encodeRecord(scan.last!).equals(rec)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
