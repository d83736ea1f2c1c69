import { describe, expect, it } from 'vitest';
import {
  AgentNotRespondingError,
  CommandFailedError,
  OperationTimedOutError,
  SiteUnreachableError,
  VmNotFoundError,
} from '../../../drivers/errors.ts';
import {
  classifyVirshError,
  errorDetail,
  isAlreadyRunning,
  isNetworkNotFound,
  isNotRunning,
} from '../../../drivers/libvirt/classify.ts';

const ctx = { site: 'secondary', vm: 'web-1' };

// Real virsh 9.0 stderr (LC_ALL=C).
const SAMPLES: Array<[string, string, new (...a: never[]) => Error]> = [
  [
    'dead socket',
    "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/x/libvirt-sock': No such file or directory\n",
    SiteUnreachableError,
  ],
  [
    'refused socket',
    "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/x/libvirt-sock': Connection refused\n",
    SiteUnreachableError,
  ],
  [
    'daemon died mid-call',
    'error: End of file while reading data: Input/output error\n',
    SiteUnreachableError,
  ],
  ['tcp peer gone', 'error: Cannot recv data: Connection reset by peer\n', SiteUnreachableError],
  ['missing domain', "error: failed to get domain 'web-1'\n", VmNotFoundError],
  [
    'missing domain (long)',
    "error: Domain not found: no domain with matching name 'web-1'\n",
    VmNotFoundError,
  ],
  [
    'agent not connected',
    'error: Guest agent is not responding: QEMU guest agent is not connected\n',
    AgentNotRespondingError,
  ],
  [
    'agent not configured',
    'error: argument unsupported: QEMU guest agent is not configured\n',
    AgentNotRespondingError,
  ],
  [
    'state lock',
    'error: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainCreate)\n',
    OperationTimedOutError,
  ],
  [
    'a daemon that answers but cannot reach its own helper',
    "error: Failed to start domain 'web-1'\nerror: Failed to connect socket to '/run/libvirt/virtlogd-sock': No such file or directory\n",
    CommandFailedError,
  ],
  [
    'anything else',
    "error: Failed to start domain 'web-1'\nerror: Cannot access storage file '/s/web-1.qcow2': No such file or directory\n",
    CommandFailedError,
  ],
];

describe('classifyVirshError', () => {
  it.each(SAMPLES)('%s', (_what, stderr, cls) => {
    const err = classifyVirshError(stderr, ctx);
    expect(err).toBeInstanceOf(cls);
    expect(err.site).toBe('secondary');
    expect(err.vm).toBe('web-1');
    expect(err.stderr).toBe(stderr);
    expect(err.hint.length).toBeGreaterThan(0);
    expect(err.name).toBe(cls.name);
  });

  it('an unreachable site wins over anything the message says about the VM', () => {
    const err = classifyVirshError(
      "error: failed to get domain 'web-1'\nerror: Cannot recv data: Connection reset by peer\n",
      ctx,
    );
    expect(err).toBeInstanceOf(SiteUnreachableError);
  });

  it('a "not found" without a VM in context is a plain command failure', () => {
    expect(classifyVirshError("error: failed to get domain 'x'\n", { site: 's' })).toBeInstanceOf(
      CommandFailedError,
    );
  });

  it('codes and retryability are stable', () => {
    const codes = SAMPLES.map(([, stderr]) => {
      const e = classifyVirshError(stderr, ctx);
      return [e.code, e.retryable];
    });
    expect(new Set(codes.map((c) => c[0]))).toEqual(
      new Set(['site-unreachable', 'vm-not-found', 'agent-not-responding', 'timed-out', 'command-failed']),
    );
    expect(classifyVirshError("error: failed to get domain 'x'", ctx).retryable).toBe(false);
    expect(classifyVirshError('error: Cannot recv data: x', ctx).retryable).toBe(true);
  });

  it('toJSON carries the context', () => {
    const j = classifyVirshError("error: failed to get domain 'web-1'\n", ctx).toJSON();
    expect(j).toMatchObject({
      name: 'VmNotFoundError',
      code: 'vm-not-found',
      site: 'secondary',
      vm: 'web-1',
    });
  });
});

describe('idempotency helpers', () => {
  it('recognises "already running" and "not running"', () => {
    expect(isAlreadyRunning('error: Requested operation is not valid: domain is already active')).toBe(true);
    expect(isAlreadyRunning('error: Requested operation is not valid: domain is already running')).toBe(true);
    expect(isNotRunning('error: Requested operation is not valid: domain is not running')).toBe(true);
    expect(isNotRunning('error: Requested operation is not valid: domain is already active')).toBe(false);
    expect(isNetworkNotFound("error: Network not found: no network with matching name 'x'")).toBe(true);
  });

  it('errorDetail strips virsh prefixes and joins lines', () => {
    expect(errorDetail('error: a\nerror: b\n')).toBe('a; b');
    expect(errorDetail('')).toBe('no error output');
  });
});
