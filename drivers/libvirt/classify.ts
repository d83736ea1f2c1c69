/**
 * Maps virsh/libvirt stderr to typed driver errors. libvirt's messages are stable English
 * strings (we force LC_ALL=C), so substring rules are enough and easy to test.
 */
import {
  AgentNotRespondingError,
  CommandFailedError,
  type DriverError,
  type DriverErrorContext,
  OperationTimedOutError,
  SiteUnreachableError,
  VmNotFoundError,
} from '../errors.ts';

// Only failures of the client's own connection: a daemon that answers with "failed to connect
// socket to virtlogd-sock" is reachable, it just failed the operation.
const UNREACHABLE = [
  'failed to connect to the hypervisor',
  'unable to connect to server',
  'cannot recv data',
  'cannot write data',
  'end of file while reading data',
  'client socket is closed',
  'no connection driver available',
  'keepalive timeout',
  'unable to connect to libvirtd',
];

const NOT_FOUND = ['domain not found', 'failed to get domain', 'no domain with matching'];

const AGENT = [
  'guest agent is not responding',
  'guest agent is not connected',
  'guest agent is not configured',
  'guest agent not available',
  'qemu guest agent is not',
];

const TIMEOUT = ['timed out during operation', 'cannot acquire state change lock'];

function has(haystack: string, needles: readonly string[]): boolean {
  return needles.some((n) => haystack.includes(n));
}

/** The libvirt error lines of stderr, without virsh's `error: ` prefixes. */
export function errorDetail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/^error:\s*/, ''));
  return lines.join('; ') || 'no error output';
}

/** Classifies a failed virsh call. Connection failures win: a dead site says nothing about the VM. */
export function classifyVirshError(
  stderr: string,
  ctx: DriverErrorContext,
  operation = 'virsh',
): DriverError {
  const s = stderr.toLowerCase();
  const detail = errorDetail(stderr);
  const full = { ...ctx, stderr };
  if (has(s, UNREACHABLE)) return new SiteUnreachableError(full, detail);
  if (has(s, AGENT) && ctx.vm !== undefined) return new AgentNotRespondingError({ ...full, vm: ctx.vm });
  if (has(s, NOT_FOUND) && ctx.vm !== undefined) return new VmNotFoundError({ ...full, vm: ctx.vm });
  if (has(s, TIMEOUT)) {
    return new OperationTimedOutError({ ...full, operation, timeoutMs: 0 });
  }
  return new CommandFailedError(full, detail);
}

/** virsh refused because the domain is already in the wanted "on" state. */
export function isAlreadyRunning(stderr: string): boolean {
  return /domain is already (active|running)/i.test(stderr);
}

/** virsh refused because the domain is not running (destroy/shutdown of a stopped VM). */
export function isNotRunning(stderr: string): boolean {
  return /domain is not running/i.test(stderr);
}

export function isNetworkNotFound(stderr: string): boolean {
  return /network not found|failed to get network/i.test(stderr);
}
