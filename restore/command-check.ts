/**
 * The `data` check's command form: what the restored VM prints for the command against what the
 * primary's guest printed at the snapshot (the point's manifest). Pure: the run is given.
 */
import type { ExecResult } from '../drivers/types.ts';
import { MAX_STDOUT } from '../replication/export/guest-commands.ts';
import type { CapturedCommand } from '../replication/manifest.ts';

/** Output shown per side in the check's evidence. */
const SHOWN = 1000;

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The point's record of `argv`, or why there is none. */
export function recordedOutput(
  commands: readonly CapturedCommand[] | undefined,
  argv: readonly string[],
): CapturedCommand {
  if (commands === undefined) {
    return {
      argv: [...argv],
      captured: false,
      reason: 'the point recorded no command outputs (it was taken without data commands in the runbook)',
    };
  }
  return (
    commands.find((c) => sameArgv(c.argv, argv)) ?? {
      argv: [...argv],
      captured: false,
      reason:
        'the point recorded no output for this command (it was not in the runbook when the point was taken)',
    }
  );
}

function show(exitCode: number, stdout: string): string {
  const cut = stdout.length > SHOWN ? `${JSON.stringify(stdout.slice(0, SHOWN))}…` : JSON.stringify(stdout);
  return `exit ${exitCode}, stdout ${cut}`;
}

/**
 * Passes only when the point captured the command and the copy's run has the same exit code and
 * stdout (its first MAX_STDOUT bytes when the capture was cut there). The output names both sides.
 */
export function compareCommandOutput(
  recorded: CapturedCommand,
  now?: Pick<ExecResult, 'exitCode' | 'stdout'>,
): { ok: boolean; output: string } {
  const head = `command ${recorded.argv.join(' ')}`;
  if (!recorded.captured) {
    return { ok: false, output: `${head}: not captured at the primary: ${recorded.reason}` };
  }
  const at = `at the primary${recorded.ranAt === undefined ? '' : ` (${recorded.ranAt})`}: ${show(recorded.exitCode, recorded.stdout)}`;
  if (now === undefined) return { ok: false, output: `${head}\n${at}\nin the restored VM: not run` };
  const stdoutNow = recorded.stdoutTruncated
    ? Buffer.from(now.stdout).subarray(0, MAX_STDOUT).toString('utf8')
    : now.stdout;
  const sameExit = now.exitCode === recorded.exitCode;
  const sameOut = stdoutNow === recorded.stdout;
  const verdict =
    sameExit && sameOut
      ? 'same exit code and output'
      : `differs: ${[sameExit ? '' : 'exit code', sameOut ? '' : 'stdout'].filter(Boolean).join(' and ')}`;
  return {
    ok: sameExit && sameOut,
    output: `${head}\n${at}\nin the restored VM: ${show(now.exitCode, now.stdout)}\n${verdict}`,
  };
}
