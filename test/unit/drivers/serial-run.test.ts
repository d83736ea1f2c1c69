/**
 * The driver records where a run begins in an appended serial log, with the domain, before it
 * starts it; checks read it back from the live domain. Against a scripted runner; the real thing
 * is in test/integration/checks/.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VmNotFoundError } from '../../../drivers/errors.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { SERIAL_RUN_NS } from '../../../drivers/libvirt/serial-run.ts';
import { scriptedRun, verb } from './fake-run.ts';

const URI = 'qemu:///system';

function domainXml(log: string, append: 'on' | 'off'): string {
  return `<domain type='qemu'><name>vm1</name><uuid>u</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <devices><serial type='unix'><source mode='bind' path='/s.sock'/><log file='${log}' append='${append}'/></serial></devices></domain>`;
}

function driverWith(rules: Parameters<typeof scriptedRun>[0]) {
  const { run, calls } = scriptedRun(rules);
  return { driver: createLibvirtDriver({ site: 'primary', uri: URI, storage: '/s', run }), calls };
}

const verbs = (calls: Array<{ args: string[] }>) => calls.map((c) => c.args.slice(2).join(' '));

describe('startVm and the serial run offset', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-serial-run-'));
  const log = path.join(dir, 'serial.log');
  writeFileSync(log, 'LIFEBOAT-READY vm=vm1 boots=1\n');

  it('an appended log: the offset is recorded in the definition before start, then cleared', async () => {
    const { driver, calls } = driverWith([
      { match: verb('domstate'), result: { stdout: 'shut off\n' } },
      { match: verb('dumpxml'), result: { stdout: domainXml(log, 'on') } },
      { match: verb('metadata'), result: {} },
      { match: verb('start'), result: {} },
    ]);
    expect(await driver.startVm('vm1')).toEqual({ started: true, alreadyRunning: false, serialOffset: 30 });
    expect(verbs(calls)).toEqual([
      'domstate --domain vm1',
      'dumpxml --inactive --domain vm1',
      `metadata --domain vm1 --uri ${SERIAL_RUN_NS} --key lifeboat --set <run serialOffset="30"/> --config`,
      'start --domain vm1',
      `metadata --domain vm1 --uri ${SERIAL_RUN_NS} --remove --config`,
    ]);
  });

  it('a log truncated at start: nothing recorded, the run begins at 0', async () => {
    const { driver, calls } = driverWith([
      { match: verb('domstate'), result: { stdout: 'shut off\n' } },
      { match: verb('dumpxml'), result: { stdout: domainXml(log, 'off') } },
      { match: verb('start'), result: {} },
    ]);
    expect(await driver.startVm('vm1')).toEqual({ started: true, alreadyRunning: false, serialOffset: 0 });
    expect(verbs(calls).some((v) => v.startsWith('metadata'))).toBe(false);
  });

  it('reads the live offset; none recorded or not running is undefined; a missing VM throws', async () => {
    const live = driverWith([
      {
        match: verb('metadata'),
        result: { stdout: `<lifeboat:run xmlns:lifeboat="${SERIAL_RUN_NS}" serialOffset="3177"/>\n` },
      },
    ]);
    expect(await live.driver.serialRunOffset('vm1')).toBe(3177);
    expect(verbs(live.calls)).toEqual([`metadata --domain vm1 --uri ${SERIAL_RUN_NS} --live`]);

    const none = driverWith([
      {
        match: verb('metadata'),
        result: { code: 1, stderr: 'error: metadata not found: Requested metadata element is not present\n' },
      },
    ]);
    expect(await none.driver.serialRunOffset('vm1')).toBeUndefined();

    const missing = driverWith([
      { match: verb('metadata'), result: { code: 1, stderr: "error: failed to get domain 'vm1'\n" } },
    ]);
    await expect(missing.driver.serialRunOffset('vm1')).rejects.toBeInstanceOf(VmNotFoundError);
  });
});
