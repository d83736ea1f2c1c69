/**
 * The driver's decisions (idempotency, fallbacks, error mapping) against a scripted runner.
 * The same behaviour against real libvirt is in test/integration/drivers/.
 */
import { describe, expect, it } from 'vitest';
import {
  AgentNotRespondingError,
  OperationTimedOutError,
  SiteUnreachableError,
  VmNotFoundError,
} from '../../../drivers/errors.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { scriptedRun, verb } from './fake-run.ts';

const URI = 'qemu:///system?socket=/lab/primary/run/libvirt-sock';
const NOT_FOUND = { code: 1, stderr: "error: failed to get domain 'vm1'\n" };

function driverWith(rules: Parameters<typeof scriptedRun>[0], callTimeoutMs = 10_000) {
  const { run, calls } = scriptedRun(rules);
  return {
    driver: createLibvirtDriver({ site: 'primary', uri: URI, storage: '/s', run, callTimeoutMs }),
    calls,
  };
}

describe('every call', () => {
  it('goes to the site URI with the call timeout', async () => {
    const { driver, calls } = driverWith([{ match: verb('list'), result: { stdout: '\n' } }], 7_000);
    expect(await driver.listVms()).toEqual([]);
    expect(calls).toEqual([
      { file: 'virsh', args: ['-c', URI, 'list', '--all', '--name'], timeoutMs: 7_000 },
    ]);
  });

  it('a call killed by the timeout means the site is unreachable', async () => {
    const { driver } = driverWith([{ match: () => true, result: { code: null, timedOut: true } }]);
    const err = await driver.startVm('vm1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SiteUnreachableError);
    expect((err as SiteUnreachableError).vm).toBe('vm1');
    expect((err as Error).message).toContain('10000 ms');
  });
});

describe('idempotent verbs', () => {
  it('start of a running VM says so and does not call start', async () => {
    const { driver, calls } = driverWith([{ match: verb('domstate'), result: { stdout: 'running\n' } }]);
    expect(await driver.startVm('vm1')).toEqual({ started: false, alreadyRunning: true });
    expect(calls.map((c) => c.args[2])).toEqual(['domstate']);
  });

  it('a start that races another start is still a success', async () => {
    const { driver } = driverWith([
      { match: verb('domstate'), result: { stdout: 'shut off\n' } },
      { match: verb('dumpxml'), result: { stdout: '<domain type="qemu"><name>vm1</name></domain>' } },
      {
        match: verb('start'),
        result: { code: 1, stderr: 'error: Requested operation is not valid: domain is already active\n' },
      },
    ]);
    expect(await driver.startVm('vm1')).toEqual({ started: false, alreadyRunning: true });
  });

  it('start of a missing VM is VmNotFoundError', async () => {
    const { driver } = driverWith([{ match: verb('domstate'), result: NOT_FOUND }]);
    await expect(driver.startVm('vm1')).rejects.toBeInstanceOf(VmNotFoundError);
  });

  it('undefine of a missing VM succeeds with removed: false', async () => {
    const { driver } = driverWith([{ match: verb('undefine'), result: NOT_FOUND }]);
    expect(await driver.undefineVm('vm1')).toEqual({ removed: false });
  });

  it('destroy of a stopped or missing VM succeeds with destroyed: false', async () => {
    const stopped = driverWith([
      {
        match: verb('destroy'),
        result: { code: 1, stderr: 'error: Requested operation is not valid: domain is not running\n' },
      },
    ]);
    expect(await stopped.driver.destroyVm('vm1')).toEqual({ destroyed: false });
    const missing = driverWith([{ match: verb('destroy'), result: NOT_FOUND }]);
    expect(await missing.driver.destroyVm('vm1')).toEqual({ destroyed: false });
  });

  it('shutdown of a stopped VM is already-off without any shutdown call', async () => {
    const { driver, calls } = driverWith([{ match: verb('domstate'), result: { stdout: 'shut off\n' } }]);
    expect(await driver.shutdownVm('vm1', { deadlineMs: 1000 })).toEqual({ method: 'already-off' });
    expect(calls.some((c) => c.args.includes('shutdown'))).toBe(false);
  });
});

describe('graceful shutdown fallbacks', () => {
  function guest(opts: { agentWorks: boolean; acpiWorks: boolean; agentHangs?: boolean }) {
    let state = 'running';
    const { run, calls } = scriptedRun([
      { match: verb('domstate'), result: {} },
      { match: () => true, result: {} },
    ]);
    const stateful: typeof run = async (file, args, o) => {
      const res = await run(file, args, o);
      const v = args.slice(2);
      if (v[0] === 'domstate') return { ...res, stdout: `${state}\n` };
      if (v[0] === 'shutdown' && v.includes('agent')) {
        if (opts.agentHangs) return { ...res, code: null, timedOut: true };
        if (!opts.agentWorks) {
          return {
            ...res,
            code: 1,
            stderr: 'error: Guest agent is not responding: QEMU guest agent is not connected\n',
          };
        }
        state = 'shut off';
      }
      if (v[0] === 'shutdown' && v.includes('acpi') && opts.acpiWorks) state = 'shut off';
      if (v[0] === 'destroy') state = 'shut off';
      return res;
    };
    const driver = createLibvirtDriver({ site: 'primary', uri: URI, storage: '/s', run: stateful });
    return { driver, calls };
  }

  it('uses the agent when it answers', async () => {
    const { driver } = guest({ agentWorks: true, acpiWorks: true });
    expect(await driver.shutdownVm('vm1', { deadlineMs: 2000 })).toEqual({ method: 'agent' });
  });

  it('falls back to ACPI without an agent', async () => {
    const { driver } = guest({ agentWorks: false, acpiWorks: true });
    expect(await driver.shutdownVm('vm1', { deadlineMs: 2000 })).toEqual({ method: 'acpi' });
  });

  it('a wedged agent (the request hangs) falls back to ACPI when the site answers', async () => {
    const { driver } = guest({ agentWorks: false, acpiWorks: true, agentHangs: true });
    expect(await driver.shutdownVm('vm1', { deadlineMs: 2000 })).toEqual({ method: 'acpi' });
  });

  it('forces the VM off once the deadline passes', async () => {
    const { driver, calls } = guest({ agentWorks: false, acpiWorks: false });
    expect(await driver.shutdownVm('vm1', { deadlineMs: 600 })).toEqual({ method: 'forced' });
    expect(calls.filter((c) => c.args[2] === 'destroy')).toHaveLength(1);
  });
});

describe('guest-agent exec', () => {
  it('starts the process, polls its status and decodes its output', async () => {
    let polls = 0;
    const { run, calls } = scriptedRun([
      {
        match: (a) => a[0] === 'qemu-agent-command' && a.at(-1)?.includes('"guest-exec"') === true,
        result: { stdout: '{"return":{"pid":42}}' },
      },
      { match: (a) => a[0] === 'qemu-agent-command', result: {} },
    ]);
    const polling: typeof run = async (file, args, o) => {
      const res = await run(file, args, o);
      if (String(args.at(-1)).includes('guest-exec-status')) {
        polls++;
        const done = polls >= 2;
        return {
          ...res,
          stdout: JSON.stringify({
            return: done
              ? {
                  exited: true,
                  exitcode: 3,
                  'out-data': Buffer.from('hello\n').toString('base64'),
                  'err-data': Buffer.from('oops').toString('base64'),
                }
              : { exited: false },
          }),
        };
      }
      return res;
    };
    const driver = createLibvirtDriver({ site: 'primary', uri: URI, storage: '/s', run: polling });
    const r = await driver.agentExec('vm1', ['/bin/sh', '-c', 'echo hello; exit 3'], { timeoutMs: 5000 });
    expect(r).toEqual({ exitCode: 3, stdout: 'hello\n', stderr: 'oops' });
    const first = JSON.parse(String(calls[0]?.args.at(-1)));
    expect(first).toEqual({
      execute: 'guest-exec',
      arguments: { path: '/bin/sh', arg: ['-c', 'echo hello; exit 3'], 'capture-output': true },
    });
    expect(calls[0]?.args).toContain('--timeout');
  });

  it('a process still running at the deadline is OperationTimedOutError', async () => {
    const { driver } = driverWith([
      {
        match: (a) => a.at(-1)?.includes('"guest-exec"') === true,
        result: { stdout: '{"return":{"pid":7}}' },
      },
      { match: (a) => a[0] === 'qemu-agent-command', result: { stdout: '{"return":{"exited":false}}' } },
    ]);
    await expect(driver.agentExec('vm1', ['/bin/sleep', '100'], { timeoutMs: 300 })).rejects.toBeInstanceOf(
      OperationTimedOutError,
    );
  });

  it('a silent agent is AgentNotRespondingError', async () => {
    const { driver } = driverWith([
      {
        match: verb('qemu-agent-command'),
        result: {
          code: 1,
          stderr: 'error: Guest agent is not responding: QEMU guest agent is not connected\n',
        },
      },
    ]);
    await expect(driver.agentExec('vm1', ['/bin/true'], { timeoutMs: 1000 })).rejects.toBeInstanceOf(
      AgentNotRespondingError,
    );
  });
});
