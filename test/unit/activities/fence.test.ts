/**
 * The fence activities (activities/fence.ts) on a real fence directory and an in-memory site:
 * autostart is recorded before the fence touches it, and only the failover that fenced the site
 * turns it back on when it lifts its own fence (a rollback); an operator's unfence leaves it off.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFenceActivities } from '../../../activities/fence.ts';
import { RecordingDriver } from '../../support/recording-driver.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const OP = 'runbook/payments/failover/3';

async function fencedSite() {
  const storage = mkdtempSync(path.join(tmpdir(), 'lifeboat-fence-act-'));
  dirs.push(storage);
  const driver = new RecordingDriver('primary', {
    vms: [
      { name: 'db-1', state: 'running' },
      { name: 'app-1', state: 'running' },
    ],
  });
  await driver.setAutostart('db-1', true);
  const acts = createFenceActivities({ driver, storage: () => storage });
  const input = {
    runbook: 'payments',
    vms: ['db-1', 'app-1', 'gone-1'],
    operationId: OP,
    by: 'alice@host',
    reason: 'disaster',
    at: '2026-12-04T08:00:00.000Z',
  };
  const first = await acts.enforceFence(input);
  return { storage, driver, acts, input, first };
}

const autostart = async (d: RecordingDriver, vm: string) => (await d.inspectVm(vm)).autostart;

describe('fence activities and autostart', () => {
  it('records autostart before turning it off; a retry keeps what the first attempt saw', async () => {
    const { storage, driver, acts, input, first } = await fencedSite();
    expect(first.vms.map((v) => [v.vm, v.wasRunning, v.autostartWas])).toEqual([
      ['db-1', true, true],
      ['app-1', true, false],
      ['gone-1', false, false],
    ]);
    expect(first.vms[0]?.detail).toMatch(/autostart turned off/);
    expect(await autostart(driver, 'db-1')).toBe(false);
    const record = JSON.parse(readFileSync(path.join(storage, 'fences', 'payments.json'), 'utf8'));
    expect(record.autostartOn).toEqual(['db-1']);
    // The retry finds autostart off already, yet reports (and keeps) what it was before the fence.
    const retry = await acts.enforceFence(input);
    expect(retry.vms.map((v) => [v.vm, v.autostartWas])).toEqual([
      ['db-1', true],
      ['app-1', false],
      ['gone-1', false],
    ]);
  });

  it("the fencing failover's own lift (its rollback) turns autostart back on, once", async () => {
    const { driver, acts } = await fencedSite();
    const lift = { runbook: 'payments', operationId: OP, by: 'alice@host', reason: `${OP} rolled back` };
    const r = await acts.liftFence(lift);
    expect(r).toMatchObject({ lifted: true, fencedBy: OP, autostartRestored: ['db-1'] });
    expect(await autostart(driver, 'db-1')).toBe(true);
    expect(await autostart(driver, 'app-1')).toBe(false);
    const again = await acts.liftFence(lift);
    expect(again.lifted).toBe(false);
    expect(again.autostartRestored).toBeUndefined();
  });

  it("an operator's unfence (another operation) lifts the fence and leaves autostart off", async () => {
    const { driver, acts } = await fencedSite();
    const r = await acts.liftFence({
      runbook: 'payments',
      operationId: 'runbook/payments/unfence/1',
      by: 'alice',
      reason: 'primary rebuilt',
    });
    expect(r).toMatchObject({ lifted: true, fencedBy: OP });
    expect(r.autostartRestored).toBeUndefined();
    expect(await autostart(driver, 'db-1')).toBe(false);
  });
});
