import { describe, expect, it } from 'vitest';
import { InvalidNameError } from '../../../drivers/errors.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { assertSafeName, isSafeName } from '../../../drivers/names.ts';
import { scriptedRun } from './fake-run.ts';

const HOSTILE = [
  '',
  '../etc/passwd',
  'a/b',
  'a\\b',
  '..',
  'vm..1',
  'vm;rm -rf /',
  'vm && reboot',
  'vm|cat',
  '$(id)',
  '`id`',
  'vm name',
  'vm\nsecond',
  'vm\u0000',
  'vm\u001b[31m',
  '-c',
  '--domain',
  "vm'quote",
  'vm"quote',
  'vm<x>',
  'vm*',
  'x'.repeat(65),
];

const SAFE = ['vm1', 'web-1', 'pg_2', 'a.b', 'A9', 'x'.repeat(64)];

describe('driver name rule', () => {
  it.each(HOSTILE)('refuses %j', (name) => {
    expect(isSafeName(name)).toBe(false);
    expect(() => assertSafeName(name, 'VM name', 'primary')).toThrow(InvalidNameError);
  });

  it.each(SAFE)('accepts %j', (name) => {
    expect(isSafeName(name)).toBe(true);
    expect(() => assertSafeName(name, 'VM name', 'primary')).not.toThrow();
  });

  it('says what was refused, where, and how to fix it', () => {
    try {
      assertSafeName('a/b', 'VM name', 'secondary');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidNameError);
      const e = err as InvalidNameError;
      expect(e.code).toBe('invalid-name');
      expect(e.site).toBe('secondary');
      expect(e.message).toContain('path separator');
      expect(e.hint.length).toBeGreaterThan(0);
      expect(e.retryable).toBe(false);
    }
  });
});

describe('hostile names never reach virsh', () => {
  const { run, calls } = scriptedRun([]);
  const driver = createLibvirtDriver({ site: 'primary', uri: 'qemu:///system', storage: '/tmp', run });
  const spec = (name: string, network = 'production') => ({
    name,
    memoryMiB: 64,
    vcpus: 1,
    disks: [{ target: 'vda', source: '/tmp/x.qcow2', format: 'qcow2' }],
    nics: [{ network }],
  });
  const verbs: Array<[string, (n: string) => Promise<unknown>]> = [
    ['inspectVm', (n) => driver.inspectVm(n)],
    ['domainDefinition', (n) => driver.domainDefinition(n)],
    ['undefineVm', (n) => driver.undefineVm(n)],
    ['startVm', (n) => driver.startVm(n)],
    ['shutdownVm', (n) => driver.shutdownVm(n, { deadlineMs: 1000 })],
    ['destroyVm', (n) => driver.destroyVm(n)],
    ['agentExec', (n) => driver.agentExec(n, ['/bin/true'], { timeoutMs: 1000 })],
    ['readSerial', (n) => driver.readSerial(n)],
    ['waitSerial', (n) => driver.waitSerial(n, 'READY', { timeoutMs: 1000 })],
    ['setAutostart', (n) => driver.setAutostart(n, false)],
    ['createTransient', (n) => driver.createTransient(spec(n))],
    ['createTransient(network)', (n) => driver.createTransient(spec('vm1', n))],
    [
      'defineVm',
      (n) => driver.defineVm(`<domain type="qemu"><name>${n.replace(/[<&]/g, '')}</name></domain>`),
    ],
    ['qmp', (n) => driver.qmp(n, 'query-status')],
  ];

  it.each(verbs)('%s refuses every hostile name without spawning', async (_verb, call) => {
    for (const name of HOSTILE) {
      if (_verb === 'defineVm' && name.replace(/[<&]/g, '') !== name) continue;
      await expect(call(name)).rejects.toBeInstanceOf(InvalidNameError);
    }
    expect(calls).toEqual([]);
  });
});
