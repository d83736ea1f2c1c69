import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHook } from '../../../activities/hooks.ts';

// `run` steps execute on a site worker (activities/hooks.ts); the workflow only routes them there.
function hooksDir(): { dir: string; digest: string; out: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-hook-unit-'));
  const out = path.join(dir, 'args.txt');
  const body = `#!/bin/sh\nfor a in "$@"; do printf '[%s]' "$a" >> '${out}'; done\n[ "$1" = fail ] && { echo boom >&2; exit 3; }\nexit 0\n`;
  writeFileSync(path.join(dir, 'hook.sh'), body);
  chmodSync(path.join(dir, 'hook.sh'), 0o755);
  return { dir, out, digest: createHash('sha256').update(body).digest('hex') };
}

const base = { operationId: 'op', stepId: 'g/after/0', command: 'hook.sh', withinMs: 10_000 };

describe('runHook', () => {
  it('passes arguments as an array, never through a shell', async () => {
    const h = hooksDir();
    const r = await runHook(h.dir, 'west', {
      ...base,
      args: ['$(touch pwned)', 'a b', ';ls'],
      sha256: h.digest,
    });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(h.out, 'utf8')).toBe('[$(touch pwned)][a b][;ls]');
    expect(existsSync(path.join(h.dir, 'pwned'))).toBe(false);
  });

  it('refuses a script whose sha256 differs from the pinned one, without running it', async () => {
    const h = hooksDir();
    await expect(
      runHook(h.dir, 'west', { ...base, args: ['x'], sha256: '0'.repeat(64) }),
    ).rejects.toMatchObject({
      type: 'HOOK_DIGEST_MISMATCH',
      nonRetryable: true,
    });
    expect(existsSync(h.out)).toBe(false);
  });

  it('refuses names that leave the hooks directory, and reports failures with stderr', async () => {
    const h = hooksDir();
    for (const command of ['../hook.sh', '/bin/sh', 'a/b', '-rf']) {
      await expect(runHook(h.dir, 'west', { ...base, command, args: [] })).rejects.toMatchObject({
        type: 'HOOK_NAME_UNSAFE',
      });
    }
    await expect(runHook(h.dir, 'west', { ...base, command: 'missing.sh', args: [] })).rejects.toMatchObject({
      type: 'HOOK_NOT_FOUND',
    });
    await expect(runHook(h.dir, 'west', { ...base, args: ['fail'] })).rejects.toMatchObject({
      type: 'HOOK_FAILED',
      message: expect.stringContaining('boom'),
    });
    await expect(runHook(undefined, 'west', { ...base, args: [] })).rejects.toMatchObject({
      type: 'HOOKS_DIR_UNSET',
    });
  });
});
