/**
 * The site's fence record (drivers/fence-record.ts) on a real directory, and the driver refusing
 * to start a fenced VM (scripted virsh: the refusal comes before any start is attempted).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VmFencedError } from '../../../drivers/errors.ts';
import { fenceOfVm, liftFence, listFences, readFence, writeFence } from '../../../drivers/fence-record.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { scriptedRun, verb } from './fake-run.ts';

const dirs: string[] = [];
function storage(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'lifeboat-fence-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FENCE = {
  runbook: 'payments',
  site: 'primary',
  vms: ['db-1', 'app-1'],
  operationId: 'runbook/payments/failover/3',
  by: 'alice@host',
  reason: 'disaster failover runbook/payments/failover/3',
  at: '2026-12-04T08:00:00.000Z',
};

describe('fence record', () => {
  it('is written once per operation, read back, and found by VM', async () => {
    const s = storage();
    expect(await readFence(s, 'payments', 'primary')).toBeUndefined();
    const w = await writeFence(s, FENCE);
    expect(w).toEqual({ version: 1, ...FENCE });
    // A retry of the same operation keeps the first record (its time does not move).
    expect(await writeFence(s, { ...FENCE, at: '2026-12-04T09:00:00.000Z' })).toEqual(w);
    const file = JSON.parse(readFileSync(path.join(s, 'fences', 'payments.json'), 'utf8'));
    expect(file.at).toBe(FENCE.at);
    expect((await fenceOfVm(s, 'primary', 'db-1'))?.operationId).toBe(FENCE.operationId);
    expect(await fenceOfVm(s, 'primary', 'web-1')).toBeUndefined();
    expect((await listFences(s, 'primary')).map((f) => f.runbook)).toEqual(['payments']);
  });

  it('lifted: moved aside with who and why; a second lift finds nothing', async () => {
    const s = storage();
    await writeFence(s, FENCE);
    const lifted = { by: 'alice', reason: 'rebuilt', at: '2026-12-04T10:00:00.000Z', operationId: 'u/1' };
    const r = await liftFence(s, 'payments', 'primary', lifted);
    expect(r?.lifted).toEqual(lifted);
    expect(existsSync(path.join(s, 'fences', 'payments.json'))).toBe(false);
    const kept = readdirSync(path.join(s, 'fences', 'lifted'));
    expect(kept).toHaveLength(1);
    expect(
      JSON.parse(readFileSync(path.join(s, 'fences', 'lifted', kept[0] as string), 'utf8')),
    ).toMatchObject({
      runbook: 'payments',
      lifted,
    });
    expect(await fenceOfVm(s, 'primary', 'db-1')).toBeUndefined();
    expect(await liftFence(s, 'payments', 'primary', lifted)).toBeUndefined();
  });

  it('a damaged record is an error, never "not fenced"', async () => {
    const s = storage();
    await writeFence(s, FENCE);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(s, 'fences', 'payments.json'), '{"version":2}');
    await expect(fenceOfVm(s, 'primary', 'db-1')).rejects.toThrow(/not a fence record/);
  });

  it('refuses an unsafe runbook name before touching a path', async () => {
    await expect(writeFence(storage(), { ...FENCE, runbook: '../etc' })).rejects.toThrow(/refused/);
  });
});

describe('the driver and a fenced VM', () => {
  const URI = 'qemu:///system?socket=/lab/primary/run/libvirt-sock';

  it('refuses to start it, saying by which operation, who acknowledged, and how to lift', async () => {
    const s = storage();
    await writeFence(s, FENCE);
    const { run, calls } = scriptedRun([{ match: verb('domstate'), result: { stdout: 'shut off\n' } }]);
    const driver = createLibvirtDriver({ site: 'primary', uri: URI, storage: s, run });
    const err = await driver.startVm('db-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmFencedError);
    expect((err as Error).message).toBe(
      "VM 'db-1' is fenced at site 'primary' by runbook/payments/failover/3 (acknowledged by alice@host: " +
        'disaster failover runbook/payments/failover/3, since 2026-12-04T08:00:00.000Z); it must not run here while the runbook runs elsewhere',
    );
    expect((err as VmFencedError).hint).toContain('lifeboat unfence payments --reason');
    expect((err as VmFencedError).retryable).toBe(false);
    expect(calls.map((c) => c.args[2])).toEqual(['domstate']);
  });

  it('starts a VM the fence does not name, and one whose fence was lifted', async () => {
    const s = storage();
    await writeFence(s, FENCE);
    const rules = [
      { match: verb('domstate'), result: { stdout: 'shut off\n' } },
      { match: verb('dumpxml'), result: { stdout: '<domain type="qemu"><name>x</name></domain>' } },
      { match: verb('start'), result: { stdout: 'Domain started\n' } },
    ];
    const driver = createLibvirtDriver({
      site: 'primary',
      uri: URI,
      storage: s,
      run: scriptedRun(rules).run,
    });
    expect((await driver.startVm('web-1')).started).toBe(true);
    await liftFence(s, 'payments', 'primary', { by: 'a', reason: 'r', at: FENCE.at, operationId: 'u' });
    expect((await driver.startVm('db-1')).started).toBe(true);
  });
});
