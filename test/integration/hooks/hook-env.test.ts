/**
 * A `run` hook learns which operation, step, site and attempt it runs for, from its environment,
 * so a script retried by Temporal (or by an operator's retry) can make itself idempotent.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { type HookResult, runHook } from '../../../activities/hooks.ts';

const dir = mkdtempSync(join(tmpdir(), 'lifeboat-hook-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run hooks', () => {
  it('get the operation id, step id, site and attempt number in their environment', async () => {
    const script =
      '#!/bin/sh\necho "$LIFEBOAT_OPERATION_ID $LIFEBOAT_STEP_ID $LIFEBOAT_SITE $LIFEBOAT_ATTEMPT"\n';
    writeFileSync(join(dir, 'mark.sh'), script);
    chmodSync(join(dir, 'mark.sh'), 0o755);
    const input = {
      operationId: 'runbook/shop/failover/3',
      stepId: 'g.before.0',
      command: 'mark.sh',
      args: [],
      withinMs: 10_000,
      sha256: createHash('sha256').update(script).digest('hex'),
    };
    for (const attempt of [1, 3]) {
      const env = new MockActivityEnvironment({ attempt });
      const r: HookResult = await env.run(() => runHook(dir, 'secondary', input));
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe(`runbook/shop/failover/3 g.before.0 secondary ${attempt}`);
    }
  });
});
