import { describe, expect, it } from 'vitest';
import { MAX_STDOUT } from '../../../replication/export/guest-commands.ts';
import type { CapturedCommand } from '../../../replication/manifest.ts';
import { manifestSchema } from '../../../replication/manifest.ts';
import { compareCommandOutput, recordedOutput } from '../../../restore/command-check.ts';

const ARGV = ['sha256sum', '/data/marker.txt'];
const AT_PRIMARY: CapturedCommand = {
  argv: ARGV,
  captured: true,
  exitCode: 0,
  stdout: 'abc  /data/marker.txt\n',
  ranAt: '2026-12-04T05:00:00Z',
};

describe('the data check with a command', () => {
  it('passes on the same exit code and stdout, and shows both sides', () => {
    const r = compareCommandOutput(AT_PRIMARY, { exitCode: 0, stdout: 'abc  /data/marker.txt\n' });
    expect(r).toEqual({
      ok: true,
      output: [
        'command sha256sum /data/marker.txt',
        'at the primary (2026-12-04T05:00:00Z): exit 0, stdout "abc  /data/marker.txt\\n"',
        'in the restored VM: exit 0, stdout "abc  /data/marker.txt\\n"',
        'same exit code and output',
      ].join('\n'),
    });
  });

  it('fails on a different stdout or exit code, naming which', () => {
    const out = compareCommandOutput(AT_PRIMARY, { exitCode: 0, stdout: 'def  /data/marker.txt\n' });
    expect(out.ok).toBe(false);
    expect(out.output).toContain(
      'at the primary (2026-12-04T05:00:00Z): exit 0, stdout "abc  /data/marker.txt\\n"',
    );
    expect(out.output).toContain('in the restored VM: exit 0, stdout "def  /data/marker.txt\\n"');
    expect(out.output.endsWith('differs: stdout')).toBe(true);
    const exit = compareCommandOutput(AT_PRIMARY, { exitCode: 1, stdout: '' });
    expect(exit.output.endsWith('differs: exit code and stdout')).toBe(true);
    // A trailing newline is output too.
    expect(compareCommandOutput(AT_PRIMARY, { exitCode: 0, stdout: 'abc  /data/marker.txt' }).ok).toBe(false);
  });

  it('fails saying why when the primary did not capture the command', () => {
    const r = compareCommandOutput({ argv: ARGV, captured: false, reason: 'no Lifeboat fsfreeze hook ran' });
    expect(r).toEqual({
      ok: false,
      output:
        'command sha256sum /data/marker.txt: not captured at the primary: no Lifeboat fsfreeze hook ran',
    });
  });

  it('finds the record by the exact argv, or says there is none', () => {
    expect(recordedOutput([AT_PRIMARY], ARGV)).toBe(AT_PRIMARY);
    expect(recordedOutput([AT_PRIMARY], ['sha256sum', '/data/other'])).toMatchObject({
      captured: false,
      reason: expect.stringContaining('not in the runbook when the point was taken'),
    });
    expect(recordedOutput(undefined, ARGV)).toMatchObject({
      captured: false,
      reason: expect.stringContaining('recorded no command outputs'),
    });
  });

  it('compares only the kept bytes of an output cut at the primary', () => {
    const long = 'x'.repeat(MAX_STDOUT);
    const rec: CapturedCommand = {
      argv: ['big'],
      captured: true,
      exitCode: 0,
      stdout: long,
      stdoutTruncated: true,
    };
    expect(compareCommandOutput(rec, { exitCode: 0, stdout: `${long}yyyy` }).ok).toBe(true);
    expect(compareCommandOutput(rec, { exitCode: 0, stdout: `${long.slice(1)}z` }).ok).toBe(false);
  });

  it('keeps the manifest field optional: a manifest without it parses, one with it round-trips', () => {
    const shape = manifestSchema.shape.commands;
    expect(shape.safeParse(undefined).success).toBe(true);
    expect(shape.safeParse([AT_PRIMARY, { argv: ['x'], captured: false, reason: 'r' }]).success).toBe(true);
    expect(shape.safeParse([{ argv: ['x'], captured: false }]).success).toBe(false);
    expect(shape.safeParse([{ argv: [], captured: true, exitCode: 0, stdout: '' }]).success).toBe(false);
  });
});
