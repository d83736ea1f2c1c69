import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFrom, splitLines, waitForLine } from '../../../drivers/libvirt/serial.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lbdrv-serial-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('splitLines', () => {
  it('keeps a partial last line for later', () => {
    expect(splitLines('', 'a\r\nb\nc')).toEqual({ lines: ['a\r', 'b'], rest: 'c' });
    expect(splitLines('c', 'd\n')).toEqual({ lines: ['cd'], rest: '' });
  });
});

describe('waitForLine', () => {
  it('finds a line written after the wait began, and returns the offset after it', async () => {
    const f = join(dir, 'late.log');
    await writeFile(f, 'booting\r\n');
    setTimeout(() => void appendFile(f, 'LIFEBOAT-REA'), 50);
    setTimeout(() => void appendFile(f, 'DY vm=web-1 boots=1\r\nmore\n'), 120);
    const hit = await waitForLine(f, /LIFEBOAT-READY vm=(\S+)/, {
      fromOffset: 0,
      timeoutMs: 3000,
      pollMs: 20,
    });
    expect(hit?.line).toBe('LIFEBOAT-READY vm=web-1 boots=1');
    expect(hit?.offset).toBe(Buffer.byteLength('booting\r\nLIFEBOAT-READY vm=web-1 boots=1\r\n'));
  });

  it('an offset skips earlier matches', async () => {
    const f = join(dir, 'twice.log');
    await writeFile(f, 'READY 1\nREADY 2\n');
    const first = await waitForLine(f, /READY/, { fromOffset: 0, timeoutMs: 500, pollMs: 10 });
    expect(first?.line).toBe('READY 1');
    const second = await waitForLine(f, /READY/, {
      fromOffset: first?.offset ?? 0,
      timeoutMs: 500,
      pollMs: 10,
    });
    expect(second?.line).toBe('READY 2');
    const none = await waitForLine(f, /READY/, {
      fromOffset: second?.offset ?? 0,
      timeoutMs: 100,
      pollMs: 10,
    });
    expect(none).toBeNull();
  });

  it('waits for a log that does not exist yet, and times out with null', async () => {
    const f = join(dir, 'never.log');
    expect(await waitForLine(f, /x/, { fromOffset: 0, timeoutMs: 80, pollMs: 10 })).toBeNull();
  });

  it('starts over when the log was truncated by a restart', async () => {
    const f = join(dir, 'restart.log');
    await writeFile(f, 'x'.repeat(100));
    setTimeout(() => void writeFile(f, 'READY again\n'), 40);
    const hit = await waitForLine(f, /READY/, { fromOffset: 100, timeoutMs: 2000, pollMs: 10 });
    expect(hit?.line).toBe('READY again');
  });

  it('stops waiting when checkAlive throws', async () => {
    const f = join(dir, 'dead.log');
    await writeFile(f, '');
    await expect(
      waitForLine(f, /x/, {
        fromOffset: 0,
        timeoutMs: 5000,
        pollMs: 5,
        checkAlive: async () => {
          throw new Error('stopped');
        },
      }),
    ).rejects.toThrow('stopped');
  });

  it('readFrom reads from an offset', async () => {
    const f = join(dir, 'r.log');
    await writeFile(f, 'abcdef');
    expect(await readFrom(f, 2)).toEqual({ text: 'cdef', end: 6, restarted: false });
  });
});
