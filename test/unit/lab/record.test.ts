import { execFileSync, spawn } from 'node:child_process';
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
      const bin = buildWorkload(dir);
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

  it('finishes on the other disks a record a power cut left on the first disk only', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lb-record-'));
    try {
      const bin = buildWorkload(dir);
      const a = path.join(dir, 'a.img');
      const b = path.join(dir, 'b.img');
      writeFileSync(a, Buffer.alloc(16 * RECORD_SIZE));
      writeFileSync(b, Buffer.alloc(16 * RECORD_SIZE));
      execFileSync(bin, ['vm-x', '1000', a, b], { env: { LB_WORKLOAD_COUNT: '5' } });
      // Seq 5 reached disk 0 only: the cut came between the two writes.
      const cut = readFileSync(b);
      cut.fill(0, 4 * RECORD_SIZE, 5 * RECORD_SIZE);
      writeFileSync(b, cut);
      expect(scanBuffer(readFileSync(b)).lastSeq).toBe(4);

      const out = execFileSync(bin, ['vm-x', '1000', a, b], { env: { LB_WORKLOAD_COUNT: '1' } }).toString();
      expect(out).toContain('LBWORKLOAD-COMPLETED vm=vm-x disk=1 seq=5');
      expect(out).toContain('resume_after=5');
      expect(out).toContain('LBACK vm=vm-x seq=6');
      for (const [disk, file] of [a, b].entries()) {
        const bytes = readFileSync(file);
        expect(scanBuffer(bytes)).toMatchObject({ lastSeq: 6, validRecords: 6 });
        for (let seq = 1; seq <= 6; seq++) {
          const r = decodeRecord(bytes, (seq - 1) * RECORD_SIZE);
          expect(r).toMatchObject({ seq, disk, vm: 'vm-x' });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on SIGTERM only once the record being written is on every disk', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lb-record-'));
    try {
      const bin = buildWorkload(dir);
      const files = ['a', 'b', 'c'].map((n) => path.join(dir, `${n}.img`));
      for (const f of files) writeFileSync(f, Buffer.alloc(4096 * RECORD_SIZE));
      const child = spawn(bin, ['vm-x', '2000', ...files]);
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (out.includes('seq=50\n')) {
            clearInterval(poll);
            resolve();
          }
        }, 5);
      });
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      expect(code).toBe(0);
      const last = Number(/LBWORKLOAD-STOP vm=vm-x last=(\d+)/.exec(out)?.[1]);
      expect(last).toBeGreaterThanOrEqual(50);
      for (const f of files) expect(scanBuffer(readFileSync(f)).lastSeq).toBe(last);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Compiles the real guest writer for the host. */
function buildWorkload(dir: string): string {
  const bin = path.join(dir, 'workload');
  execFileSync('gcc', ['-O2', '-o', bin, path.join(import.meta.dirname, '../../../lab/guest/workload.c')]);
  return bin;
}
