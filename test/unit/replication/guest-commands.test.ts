import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  armCommands,
  COMMANDS_FILE,
  collectOutputs,
  type GuestFiles,
  MAX_STDOUT,
  renderCommandsFile,
} from '../../../replication/export/guest-commands.ts';

const run = promisify(execFile);
const HOOK = join(import.meta.dirname, '../../../guest/fsfreeze-hook');

/** A guest whose /run is a temporary directory, with the product's hook run by busybox sh. */
function fakeGuest(root: string): GuestFiles & { freeze(): Promise<void> } {
  const local = (p: string) => join(root, p.replace(/^\/run\//, ''));
  return {
    async agentWriteFile(_d, path, data) {
      await writeFile(local(path), data);
    },
    async agentReadFile(_d, path, offset, length) {
      return (await readFile(local(path))).subarray(offset, offset + length);
    },
    async freeze() {
      await run('busybox', ['sh', HOOK, 'freeze'], { env: { ...process.env, LIFEBOAT_HOOK_RUN: root } });
    },
  };
}

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lb-hook-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('guest commands through the fsfreeze hook', () => {
  it('runs each command once at the freeze and collects stdout and exit code', async () => {
    const g = fakeGuest(root);
    await writeFile(join(root, 'marker.txt'), "it's here\n");
    const commands = [
      ['cat', join(root, 'marker.txt')],
      ['sh', '-c', 'echo "$1"; exit 3', 'x', "a 'quoted' $(arg)"],
      ['/no/such/program'],
    ];
    const armed = await armCommands(g, 'db-1', commands);
    expect('id' in armed).toBe(true);
    await g.freeze();
    const out = await collectOutputs(g, 'db-1', commands, armed, undefined);
    expect(out.map((c) => (c.captured ? [c.exitCode, c.stdout] : c.reason))).toEqual([
      [0, "it's here\n"],
      [3, "a 'quoted' $(arg)\n"],
      [127, ''],
    ]);
    expect(out[0]).toMatchObject({ captured: true, ranAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    // Taken by the hook: a second freeze (someone else's backup) runs nothing again.
    await expect(readFile(join(root, COMMANDS_FILE.slice('/run/'.length)))).rejects.toThrow();
  });

  it('says not captured, and why, when no hook ran', async () => {
    const g = fakeGuest(root);
    const commands = [['true']];
    const armed = await armCommands(g, 'db-1', commands);
    const out = await collectOutputs(g, 'db-1', commands, armed, undefined);
    expect(out).toEqual([
      {
        argv: ['true'],
        captured: false,
        reason: expect.stringMatching(/^no Lifeboat fsfreeze hook ran in the guest .*--fsfreeze-hook$/),
      },
    ]);
  });

  it('never takes an earlier freeze`s outputs for this one', async () => {
    const g = fakeGuest(root);
    const commands = [['echo', 'old']];
    const first = await armCommands(g, 'db-1', commands);
    await g.freeze();
    expect((await collectOutputs(g, 'db-1', commands, first, undefined))[0]?.captured).toBe(true);
    const second = await armCommands(g, 'db-1', commands);
    // This freeze found no hook (e.g. qemu-ga restarted without -F): `done` is still the first's.
    const out = await collectOutputs(g, 'db-1', commands, second, undefined);
    expect(out[0]).toMatchObject({ captured: false, reason: expect.stringContaining('for this freeze') });
  });

  it('says not captured when the freeze failed, when the agent cannot write, or with no guest access', async () => {
    const g = fakeGuest(root);
    const commands = [['true']];
    const armed = await armCommands(g, 'db-1', commands);
    await g.freeze();
    expect(await collectOutputs(g, 'db-1', commands, armed, 'guest agent fsfreeze failed: x')).toEqual([
      {
        argv: ['true'],
        captured: false,
        reason: 'the guest was not frozen for this point (guest agent fsfreeze failed: x)',
      },
    ]);
    const broken: GuestFiles = {
      agentWriteFile: async () => {
        throw new Error('agent not connected');
      },
      agentReadFile: g.agentReadFile,
    };
    const refused = await armCommands(broken, 'db-1', commands);
    expect(refused).toEqual({
      reason: 'could not write the commands into the guest through its agent: agent not connected',
    });
    expect((await collectOutputs(broken, 'db-1', commands, refused, undefined))[0]).toMatchObject({
      captured: false,
      reason: expect.stringContaining('agent not connected'),
    });
    expect(await armCommands(undefined, 'db-1', commands)).toEqual({
      reason: "this site's worker has no guest agent access",
    });
  });

  it('keeps at most MAX_STDOUT bytes and marks the output truncated', async () => {
    const g = fakeGuest(root);
    const commands = [['sh', '-c', `head -c ${MAX_STDOUT + 10} /dev/zero | tr '\\0' a`]];
    const armed = await armCommands(g, 'db-1', commands);
    await g.freeze();
    const [c] = await collectOutputs(g, 'db-1', commands, armed, undefined);
    expect(c?.captured && [c.stdout.length, c.stdoutTruncated]).toEqual([MAX_STDOUT, true]);
  });

  it('refuses an argument that would break the one-line-per-command file', () => {
    expect(() => renderCommandsFile('i', [['echo', 'a\nb']])).toThrow(/line break/);
    expect(renderCommandsFile('i', [['echo', "it's"]])).toBe("id i\ncmd 'echo' 'it'\\''s'\n");
  });
});
