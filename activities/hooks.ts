/**
 * `run` steps: a script from the site worker's hooks directory, executed with an argument array
 * (never a shell), refused when its sha256 differs from the one the runbook pins.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch {
    throw fail('HOOK_NOT_FOUND', `no hook ${input.command} at site ${site}`, `install it as ${path}`);
  }
  const digest = createHash('sha256').update(body).digest('hex');
  if (input.sha256 && input.sha256.toLowerCase() !== digest) {
    throw fail(
      'HOOK_DIGEST_MISMATCH',
      `hook ${input.command} has sha256 ${digest}, the runbook pins ${input.sha256}`,
      'install the reviewed script or update the runbook',
    );
  }
  const r = await new Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }>(
    (resolve) => {
      execFile(path, input.args, { timeout: input.withinMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : 127) : 0,
          stdout: String(stdout).slice(-TAIL),
          stderr: String(stderr).slice(-TAIL),
          timedOut: Boolean(e?.killed),
        });
      });
    },
  );
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
}
