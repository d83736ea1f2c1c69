import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runProcess } from '../replication/exec.ts';
import { RECORD_SIZE, RecordScanner, type ScanResult } from './record.ts';

/** An image the reader could not read (qemu-img said why). */
export class WorkloadReadError extends Error {
  readonly code = 'IMAGE_READ_FAILED';
  constructor(
    message: string,
    readonly image: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'WorkloadReadError';
  }
}

/**
 * Reads a data disk offline, without booting it: any image qemu-img understands (a raw file or
 * the top of a qcow2 chain, backing files included) is flattened to a temporary raw file with
 * `qemu-img convert -U` (share mode: the image may belong to a running VM) and scanned.
 */
export interface ImageScan extends ScanResult {
  image: string;
  format: string;
  virtualSize: number;
}

export async function imageInfo(image: string): Promise<{ format: string; virtualSize: number }> {
  const r = await runProcess('qemu-img', ['info', '-U', '--output=json', image], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    throw new WorkloadReadError(`qemu-img info failed: ${r.stderr.trim()}`, image, 'is the path right?');
  }
  const info = JSON.parse(r.stdout) as { format: string; 'virtual-size': number };
  return { format: info.format, virtualSize: info['virtual-size'] };
}

function scanFile(file: string): ScanResult {
  const scanner = new RecordScanner();
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(256 * RECORD_SIZE);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      scanner.push(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return scanner.done();
}

/** Finds the last valid record (highest sequence number) on a disk image or qcow2 chain. */
export async function readLastRecord(image: string): Promise<ImageScan> {
  const info = await imageInfo(image);
  if (info.format === 'raw') return { image, ...info, ...scanFile(image) };
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-reader-'));
  try {
    const raw = path.join(dir, 'disk.raw');
    const r = await runProcess('qemu-img', ['convert', '-U', '-O', 'raw', image, raw], {
      timeoutMs: 300_000,
    });
    if (r.exitCode !== 0) {
      throw new WorkloadReadError(
        `qemu-img convert failed: ${r.stderr.trim()}`,
        image,
        'check the backing chain with `qemu-img info --backing-chain`',
      );
    }
    return { image, ...info, ...scanFile(raw) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
