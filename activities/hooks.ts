/**
 * `run` steps: a script from the site worker's hooks directory, executed with an argument array
 * (never a shell), refused when its sha256 differs from the one the runbook pins, or when it is
 * a symlink or not a regular file. A hook may be run more than once for one step (an activity
 * retry, a paused group retried): its environment says which operation, step and attempt this
 * is, so a script can make itself idempotent (`hookEnvironment`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

export interface HookInput {
  operationId: string;
  stepId: string;
  command: string;
  args: string[];
  withinMs: number;
  sha256?: string;
}

export interface HookResult {
  stepId: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  sha256: string;
}

const SAFE_COMMAND = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TAIL = 4_000;

export async function runHook(
  hooksDir: string | undefined,
  site: string,
  input: HookInput,
): Promise<HookResult> {
  const fail = (type: string, message: string, hint: string): ApplicationFailure =>
    ApplicationFailure.create({
      type,
      message,
      nonRetryable: true,
      details: [{ site, step: input.stepId, command: input.command, hint }],
    });
  if (!hooksDir)
    throw fail('HOOKS_DIR_UNSET', `site ${site} has no hooks directory`, 'start the site worker with one');
  if (!SAFE_COMMAND.test(input.command) || input.command.includes('..')) {
    throw fail(
      'HOOK_NAME_UNSAFE',
      `unsafe hook name ${JSON.stringify(input.command)}`,
      'name a file in the hooks directory',
    );
  }
  const path = join(hooksDir, input.command);
  // The script is opened once and run from that open file, so the bytes whose digest was checked
  // are the bytes that run: a file swapped in after the check (or a symlink) never runs.
  let file: FileHandle;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      throw fail('HOOK_NAME_UNSAFE', `hook ${input.command} is a symlink`, 'install the script itself');
    throw fail('HOOK_NOT_FOUND', `no hook ${input.command} at site ${site}`, `install it as ${path}`);
  }
  try {
    if (!(await file.stat()).isFile())
      throw fail('HOOK_NOT_FOUND', `hook ${input.command} is not a regular file`, `install it as ${path}`);
    const digest = createHash('sha256')
      .update(await file.readFile())
      .digest('hex');
    if (input.sha256 && input.sha256.toLowerCase() !== digest) {
      throw fail(
        'HOOK_DIGEST_MISMATCH',
        `hook ${input.command} has sha256 ${digest}, the runbook pins ${input.sha256}`,
        'install the reviewed script or update the runbook',
      );
    }
    const r = await runOpenScript(file.fd, input, hooksDir, hookEnvironment(site, input, activityAttempt()));
    if (r.timedOut)
      throw fail('HOOK_TIMED_OUT', `hook ${input.command} ran past ${input.withinMs} ms`, 'raise within');
    if (r.code !== 0) {
      throw fail(
        'HOOK_FAILED',
        `hook ${input.command} exited ${r.code}: ${r.stderr.trim().slice(-500)}`,
        'see stderr',
      );
    }
    return { stepId: input.stepId, exitCode: 0, stdout: r.stdout, stderr: r.stderr, sha256: digest };
  } finally {
    await file.close();
  }
}

/**
 * What a hook finds in its environment besides the worker's: LIFEBOAT_OPERATION_ID (the
 * operation's workflow id, the same on every attempt), LIFEBOAT_STEP_ID, LIFEBOAT_SITE and
 * LIFEBOAT_ATTEMPT (1 on the first run of this activity, then 2, 3...).
 */
export function hookEnvironment(site: string, input: HookInput, attempt: number): Record<string, string> {
  return {
    LIFEBOAT_OPERATION_ID: input.operationId,
    LIFEBOAT_STEP_ID: input.stepId,
    LIFEBOAT_SITE: site,
    LIFEBOAT_ATTEMPT: String(attempt),
  };
}

function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * Executes the open script as the child's fd 3 (`/proc/self/fd/3`, so `$0` is that path), with
 * the hooks directory as working directory and its arguments as an array. It runs in its own
 * process group, so the deadline ends whatever the script started, too.
 */
function runOpenScript(
  fd: number,
  input: HookInput,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('/proc/self/fd/3', input.args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', fd],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, input.withinMs);
    child.stdout?.on('data', (b: Buffer) => {
      stdout = (stdout + b.toString()).slice(-TAIL);
    });
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-TAIL);
    });
    const done = (code: number, extra = '') => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: stderr + extra, timedOut });
    };
    child.on('error', (err) => done(127, err.message));
    child.on('close', (code) => done(code ?? 128));
  });
}
