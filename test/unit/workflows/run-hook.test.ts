import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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

  it('runs the bytes it checked: symlinks and non-files are refused, the deadline kills', async () => {
    const h = hooksDir();
    symlinkSync(path.join(h.dir, 'hook.sh'), path.join(h.dir, 'link.sh'));
    await expect(runHook(h.dir, 'west', { ...base, command: 'link.sh', args: [] })).rejects.toMatchObject({
      type: 'HOOK_NAME_UNSAFE',
    });
    mkdirSync(path.join(h.dir, 'dir.sh'));
    await expect(runHook(h.dir, 'west', { ...base, command: 'dir.sh', args: [] })).rejects.toMatchObject({
      type: 'HOOK_NOT_FOUND',
    });
    writeFileSync(path.join(h.dir, 'slow.sh'), '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
    await expect(
      runHook(h.dir, 'west', { ...base, command: 'slow.sh', args: [], withinMs: 300 }),
    ).rejects.toMatchObject({ type: 'HOOK_TIMED_OUT' });
    // It runs in the hooks directory, from the open file.
    writeFileSync(path.join(h.dir, 'where.sh'), '#!/bin/sh\npwd\necho "$0"\n', { mode: 0o755 });
    const r = await runHook(h.dir, 'west', { ...base, command: 'where.sh', args: [] });
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([h.dir, '/proc/self/fd/3']);
  });
});
