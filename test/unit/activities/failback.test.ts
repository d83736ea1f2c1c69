import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFailbackActivities, failoverVmDirs } from '../../../activities/failback.ts';
import { RecordingDriver } from '../../support/recording-driver.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A site storage with the failover's overlays of db-1 and app-1, and others that must stay. */
function storage(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'lb-failback-'));
  dirs.push(root);
  for (const d of [
    'restores/failover-lab-2/db-1',
    'restores/failover-lab-2/app-1',
    'restores/failover-lab-x-3/db-1',
    'restores/drill-lab-4/db-1',
  ]) {
    mkdirSync(path.join(root, d), { recursive: true });
    writeFileSync(path.join(root, d, 'serial.log'), 'x');
  }
  mkdirSync(path.join(root, 'reprotect', 'db-1'), { recursive: true });
  writeFileSync(path.join(root, 'reprotect', 'db-1', 'reprotected.json'), '{}');
  return root;
}

describe('cleanup after a committed failback', () => {
  it("finds only the runbook's failover directories of the VM", async () => {
    const root = storage();
    expect(await failoverVmDirs(root, 'lab', 'db-1')).toEqual([
      path.join(root, 'restores/failover-lab-2/db-1'),
    ]);
    expect(await failoverVmDirs(root, 'lab-x', 'db-1')).toEqual([
      path.join(root, 'restores/failover-lab-x-3/db-1'),
    ]);
    expect(await failoverVmDirs(path.join(root, 'none'), 'lab', 'db-1')).toEqual([]);
  });

  it('undefines the stopped failover VM and removes its overlays, once; a retry finds nothing left', async () => {
    const root = storage();
    const driver = new RecordingDriver('secondary', { vms: [{ name: 'db-1', state: 'shut off' }] });
    const acts = createFailbackActivities({ driver, storage: root });
    const input = { operationId: 'runbook/lab/failback/1', runbook: 'lab', vm: 'db-1' };
    const first = await acts.failbackRemoveFailoverVm(input);
    expect(first.removed).toEqual(['domain db-1', path.join(root, 'restores/failover-lab-2/db-1')]);
    expect(driver.vmState('db-1')).toBeUndefined();
    expect(existsSync(path.join(root, 'restores/failover-lab-2/app-1'))).toBe(true);
    expect(existsSync(path.join(root, 'restores/failover-lab-x-3/db-1'))).toBe(true);
    expect(existsSync(path.join(root, 'restores/drill-lab-4/db-1'))).toBe(true);
    const again = await acts.failbackRemoveFailoverVm(input);
    expect([again.removed, again.detail]).toEqual([[], 'nothing left: no domain and no failover overlays']);
    // The last VM of the failover takes its operation directory with it.
    await acts.failbackRemoveFailoverVm({ ...input, vm: 'app-1' });
    expect(existsSync(path.join(root, 'restores/failover-lab-2'))).toBe(false);
  });

  it('refuses to remove a VM still running at the secondary, and leaves its overlays', async () => {
    const root = storage();
    const driver = new RecordingDriver('secondary', { vms: [{ name: 'db-1', state: 'running' }] });
    const acts = createFailbackActivities({ driver, storage: root });
    await expect(
      acts.failbackRemoveFailoverVm({ operationId: 'runbook/lab/failback/1', runbook: 'lab', vm: 'db-1' }),
    ).rejects.toMatchObject({ type: 'VM_RUNNING_AT_SECONDARY', nonRetryable: true });
    expect(driver.vmState('db-1')).toBe('running');
    expect(existsSync(path.join(root, 'restores/failover-lab-2/db-1'))).toBe(true);
  });

  it('refuses hostile names before touching anything', async () => {
    const root = storage();
    const acts = createFailbackActivities({ driver: new RecordingDriver('secondary'), storage: root });
    await expect(
      acts.failbackRemoveFailoverVm({ operationId: 'runbook/lab/failback/1', runbook: 'lab', vm: '../..' }),
    ).rejects.toThrow();
    expect(existsSync(path.join(root, 'restores'))).toBe(true);
  });
});
