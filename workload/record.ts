/**
 * Lifeboat's workload record format: what a guest writes so a restore can prove its data (the
 * lab's guest, lab/guest/workload.c, is one writer; docs in workload/README.md).
 * 4096 bytes, little-endian:
 *   0 magic "LBWREC01" | 8 version u32 (1) | 12 size u32 (4096) | 16 seq u64 | 24 unix ms u64
 *   32 disk index u32 | 36 vm name length u32 | 40 vm name (64 bytes, zero padded)
 *   104 payload (xorshift32 stream) | 4092 CRC-32 (IEEE) of bytes 0..4091
 * Record `seq` (from 1) lives in slot (seq - 1) % slots of a data disk used as a ring.
 */
export const RECORD_SIZE = 4096;
export const RECORD_MAGIC = 'LBWREC01';
export const RECORD_VERSION = 1;
const PAYLOAD_OFFSET = 104;
const CRC_OFFSET = RECORD_SIZE - 4;

export interface WorkloadRecord {
  seq: number;
  timestampMs: number;
  disk: number;
  vm: string;
  /** The record's CRC-32 (set when decoded; encode computes it). */
  crc?: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib computes it). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The payload stream, exactly as the guest writes it (u32 arithmetic like the C code). */
function fillPayload(buf: Buffer, seq: number, disk: number): void {
  let x = (Math.imul(Number(BigInt(seq) & 0xffffffffn), 2654435761) ^ Math.imul(disk + 1, 40503)) >>> 0;
  if (x === 0) x = 1;
  for (let i = PAYLOAD_OFFSET; i < CRC_OFFSET; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    buf[i] = x & 0xff;
  }
}

export function encodeRecord(r: WorkloadRecord): Buffer {
  const name = Buffer.from(r.vm, 'utf8');
  if (name.length > 64) throw new RangeError('vm name longer than 64 bytes');
  if (!Number.isSafeInteger(r.seq) || r.seq < 1) throw new RangeError('seq must be a positive integer');
  const buf = Buffer.alloc(RECORD_SIZE);
  buf.write(RECORD_MAGIC, 0, 'latin1');
  buf.writeUInt32LE(RECORD_VERSION, 8);
  buf.writeUInt32LE(RECORD_SIZE, 12);
  buf.writeBigUInt64LE(BigInt(r.seq), 16);
  buf.writeBigUInt64LE(BigInt(r.timestampMs), 24);
  buf.writeUInt32LE(r.disk, 32);
  buf.writeUInt32LE(name.length, 36);
  name.copy(buf, 40);
  fillPayload(buf, r.seq, r.disk);
  buf.writeUInt32LE(crc32(buf, 0, CRC_OFFSET), CRC_OFFSET);
  return buf;
}

/** Decodes one record; undefined when it is blank, torn or corrupt (magic, size or CRC wrong). */
export function decodeRecord(buf: Uint8Array, offset = 0): WorkloadRecord | undefined {
  if (buf.length - offset < RECORD_SIZE) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset + offset, RECORD_SIZE);
  if (b.toString('latin1', 0, 8) !== RECORD_MAGIC) return undefined;
  if (b.readUInt32LE(8) !== RECORD_VERSION || b.readUInt32LE(12) !== RECORD_SIZE) return undefined;
  if (b.readUInt32LE(CRC_OFFSET) !== crc32(b, 0, CRC_OFFSET)) return undefined;
  const nameLen = b.readUInt32LE(36);
  if (nameLen > 64) return undefined;
  return {
    seq: Number(b.readBigUInt64LE(16)),
    timestampMs: Number(b.readBigUInt64LE(24)),
    disk: b.readUInt32LE(32),
    vm: b.toString('utf8', 40, 40 + nameLen),
    crc: b.readUInt32LE(CRC_OFFSET),
  };
}

/** What a scan of a data disk found. */
export interface ScanResult {
  /** The record with the highest sequence number (undefined on a blank disk). */
  last?: WorkloadRecord;
  lastSeq: number;
  validRecords: number;
  /** Slots holding something that is not a valid record (torn writes), blank slots excluded. */
  invalidSlots: number;
  slots: number;
}

/** Accumulates a scan over consecutive chunks of a disk (chunks are whole records). */
export class RecordScanner {
  private result: ScanResult = { lastSeq: 0, validRecords: 0, invalidSlots: 0, slots: 0 };

  push(chunk: Uint8Array): void {
    const whole = chunk.length - (chunk.length % RECORD_SIZE);
    for (let off = 0; off < whole; off += RECORD_SIZE) {
      this.result.slots++;
      const rec = decodeRecord(chunk, off);
      if (rec) {
        this.result.validRecords++;
        if (rec.seq > this.result.lastSeq) {
          this.result.lastSeq = rec.seq;
          this.result.last = rec;
        }
      } else if (!isBlank(chunk, off)) {
        this.result.invalidSlots++;
      }
    }
  }

  done(): ScanResult {
    return { ...this.result };
  }
}

function isBlank(chunk: Uint8Array, off: number): boolean {
  for (let i = off; i < off + RECORD_SIZE; i++) if (chunk[i] !== 0) return false;
  return true;
}

export function scanBuffer(buf: Uint8Array): ScanResult {
  const s = new RecordScanner();
  s.push(buf);
  return s.done();
}
