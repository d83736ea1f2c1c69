/**
 * The `data` checks' guest commands at the primary. qemu-ga refuses guest-exec while the guest is
 * frozen, so the commands run in the guest's fsfreeze hook (guest/fsfreeze-hook, which qemu-ga
 * calls with `freeze` just before it freezes the filesystems): before the freeze Lifeboat writes
 * them into the guest with an id of its own, after the thaw it reads what the hook wrote. Every
 * command ends up captured or with the reason it was not.
 */
import { randomUUID } from 'node:crypto';
import type { CapturedCommand } from '../manifest.ts';

/** What this needs of the guest agent (the site's SiteDriver has both). */
export interface GuestFiles {
  agentWriteFile(domain: string, path: string, data: Buffer): Promise<void>;
  agentReadFile(domain: string, path: string, offset: number, length: number): Promise<Buffer>;
}

/** Where Lifeboat leaves the commands: a file in /run (tmpfs, never frozen, gone at reboot). */
export const COMMANDS_FILE = '/run/lifeboat-commands';
/** Where the hook writes `done` (the id and time) and `<n>.rc` / `<n>.out` per command, from 1. */
export const OUTPUT_DIR = '/run/lifeboat';
/** Output kept per command; longer output is cut here and marked truncated. */
export const MAX_STDOUT = 64 * 1024;

const HOOK_HINT = 'install guest/fsfreeze-hook in the guest and start qemu-ga with --fsfreeze-hook';

/** One single-quoted shell word: the hook reads each line with `eval set --`. */
export function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** The commands file: `id <id>`, then one `cmd <quoted argv>` line per command, in order. */
export function renderCommandsFile(id: string, commands: readonly string[][]): string {
  // One command a line: the runbook already refuses control characters in arguments.
  if (commands.some((argv) => argv.some((a) => /[\n\r\0]/.test(a)))) {
    throw new Error('a data command argument holds a line break or NUL');
  }
  return [`id ${id}`, ...commands.map((argv) => `cmd ${argv.map(shellQuote).join(' ')}`), ''].join('\n');
}

/** The hook's `done` file: `id <id>` and `at <time>` lines. */
export function parseDoneFile(text: string): { id?: string; at?: string } {
  const out: { id?: string; at?: string } = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('id ')) out.id = line.slice(3).trim();
    if (line.startsWith('at ')) out.at = line.slice(3).trim();
  }
  return out;
}

export type Armed = { id: string } | { reason: string };

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function notCaptured(commands: readonly string[][], reason: string): CapturedCommand[] {
  return commands.map((argv) => ({ argv: [...argv], captured: false, reason }));
}

/** Leaves the commands where the hook finds them at the next freeze, under a new id. */
export async function armCommands(
  guest: GuestFiles | undefined,
  domain: string,
  commands: readonly string[][],
): Promise<Armed> {
  if (guest === undefined) return { reason: "this site's worker has no guest agent access" };
  const id = randomUUID();
  try {
    await guest.agentWriteFile(domain, COMMANDS_FILE, Buffer.from(renderCommandsFile(id, commands)));
    return { id };
  } catch (e) {
    return { reason: `could not write the commands into the guest through its agent: ${message(e)}` };
  }
}

/** What the hook wrote for this freeze; a missing or older `done` means no hook ran for it. */
export async function collectOutputs(
  guest: GuestFiles | undefined,
  domain: string,
  commands: readonly string[][],
  armed: Armed,
  freezeFailed: string | undefined,
): Promise<CapturedCommand[]> {
  if ('reason' in armed) return notCaptured(commands, armed.reason);
  if (guest === undefined) return notCaptured(commands, "this site's worker has no guest agent access");
  if (freezeFailed !== undefined) {
    return notCaptured(commands, `the guest was not frozen for this point (${freezeFailed})`);
  }
  const bytes = (name: string, max: number) => guest.agentReadFile(domain, `${OUTPUT_DIR}/${name}`, 0, max);
  const read = async (name: string, max: number) => (await bytes(name, max)).toString('utf8');
  let done: { id?: string; at?: string };
  try {
    done = parseDoneFile(await read('done', 4096));
  } catch (e) {
    return notCaptured(
      commands,
      `no Lifeboat fsfreeze hook ran in the guest (${OUTPUT_DIR}/done unreadable: ${message(e)}); ${HOOK_HINT}`,
    );
  }
  if (done.id !== armed.id) {
    return notCaptured(
      commands,
      `no Lifeboat fsfreeze hook ran for this freeze (${OUTPUT_DIR}/done is from ${done.id ?? 'nothing'}, not ${armed.id}); ${HOOK_HINT}`,
    );
  }
  const out: CapturedCommand[] = [];
  for (const [i, argv] of commands.entries()) {
    try {
      const rc = (await read(`${i + 1}.rc`, 64)).trim();
      if (!/^\d+$/.test(rc)) throw new Error(`exit code file holds ${JSON.stringify(rc)}`);
      const raw = await bytes(`${i + 1}.out`, MAX_STDOUT + 1);
      const truncated = raw.length > MAX_STDOUT;
      out.push({
        argv: [...argv],
        captured: true,
        exitCode: Number(rc),
        stdout: raw.subarray(0, MAX_STDOUT).toString('utf8'),
        ...(truncated ? { stdoutTruncated: true } : {}),
        ...(done.at === undefined ? {} : { ranAt: done.at }),
      });
    } catch (e) {
      out.push({
        argv: [...argv],
        captured: false,
        reason: `the hook's output is unreadable: ${message(e)}`,
      });
    }
  }
  return out;
}
