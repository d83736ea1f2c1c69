/**
 * The libvirt qemu hook (deploy/libvirt-hooks/qemu) run as libvirtd runs it
 * (`qemu <domain> <operation> <sub-operation> -`), against fence records written by the worker's
 * own writer (drivers/fence-record.ts), so the two cannot drift apart unnoticed.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { liftFence, writeFence } from '../../../drivers/fence-record.ts';
import { qemuHookScript } from '../../../drivers/libvirt/qemu-hook.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function site(): { storage: string; hook: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-hook-'));
  dirs.push(dir);
  const storage = path.join(dir, 'storage');
  mkdirSync(storage);
  const hook = path.join(dir, 'qemu');
  writeFileSync(hook, qemuHookScript(storage), { mode: 0o755 });
  return { storage, hook };
}

function callHook(hook: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(hook, args, { timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
    // libvirt writes the domain's XML on stdin; the hook need not read it (libvirt ignores EPIPE).
    child.stdin?.on('error', () => undefined);
    child.stdin?.end('<domain/>');
  });
}

const FENCE = {
  runbook: 'payments',
  site: 'primary',
  vms: ['db-1', 'app-1'],
  operationId: 'runbook/payments/failover/3',
  by: 'alice@host',
  reason: 'the "primary" is gone',
  at: '2026-12-04T08:00:00.000Z',
  autostartOn: ['db-1', 'web-1'],
};

describe('libvirt qemu hook (the fence held by libvirt)', () => {
  it('refuses to prepare, restore or migrate in a fenced VM, saying by whom and how to lift it', async () => {
    const { storage, hook } = site();
    expect((await callHook(hook, ['db-1', 'prepare', 'begin', '-'])).code).toBe(0);
    await writeFence(storage, FENCE);
    for (const op of [
      ['prepare', 'begin'],
      ['restore', 'begin'],
      ['migrate', 'begin'],
    ]) {
      const r = await callHook(hook, ['db-1', ...op, '-']);
      expect(r.code, op.join(' ')).toBe(1);
      expect(r.stderr).toContain(
        "lifeboat: VM 'db-1' is fenced at this site by runbook/payments/failover/3 (acknowledged by alice@host)",
      );
      expect(r.stderr).toContain('lifeboat unfence payments --reason');
    }
    expect((await callHook(hook, ['app-1', 'prepare', 'begin', '-'])).code).toBe(1);
    // Named only among autostartOn, a prefix of a fenced name, or another operation: not fenced.
    expect((await callHook(hook, ['web-1', 'prepare', 'begin', '-'])).code).toBe(0);
    expect((await callHook(hook, ['db-10', 'prepare', 'begin', '-'])).code).toBe(0);
    expect((await callHook(hook, ['db-1', 'stopped', 'end', '-'])).code).toBe(0);
  });

  it('a lifted fence no longer holds; a damaged record refuses every start (fails safe)', async () => {
    const { storage, hook } = site();
    await writeFence(storage, FENCE);
    await liftFence(storage, 'payments', 'primary', {
      by: 'alice',
      reason: 'rebuilt',
      at: '2026-12-04T10:00:00.000Z',
      operationId: 'runbook/payments/unfence/1',
    });
    expect((await callHook(hook, ['db-1', 'prepare', 'begin', '-'])).code).toBe(0);
    writeFileSync(path.join(storage, 'fences', 'other.json'), '{"version":1}');
    const r = await callHook(hook, ['web-1', 'prepare', 'begin', '-']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/other\.json is not a fence record Lifeboat can read/);
  });

  it('takes only a plain absolute storage path', () => {
    expect(() => qemuHookScript('/var/lib/x; rm -rf /')).toThrow(/unsafe storage path/);
  });
});
