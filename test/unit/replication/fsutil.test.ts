import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File } from '../../../replication/fsutil.ts';

describe('sha256File', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-sha-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same digest and size whether a file is hashed here or by openssl (from 32 MiB)', async () => {
    for (const size of [0, 1000, 40 * 1024 * 1024 + 7]) {
      const data = randomBytes(size);
      const file = path.join(dir, `f${size}`);
      writeFileSync(file, data);
      expect(await sha256File(file)).toEqual({
        sha256: createHash('sha256').update(data).digest('hex'),
        size,
      });
    }
    // A relative path is hashed as the same file.
    const rel = path.relative(process.cwd(), path.join(dir, `f${40 * 1024 * 1024 + 7}`));
    expect((await sha256File(rel)).size).toBe(40 * 1024 * 1024 + 7);
  });
});
