/**
 * Typed driver errors. Each carries a stable `code`, where it happened (site, vm), the command's
 * stderr and a hint for the operator. `name` is the class name, so a Temporal ApplicationFailure
 * built from it keeps the type, and `retryable` tells activity wrappers whether a retry can help.
 */
export type DriverErrorCode =
  | 'vm-not-found'
  | 'site-unreachable'
  | 'timed-out'
  | 'agent-not-responding'
  | 'invalid-name'
  | 'vm-fenced'
  | 'command-failed';

export interface DriverErrorContext {
  site: string;
  vm?: string;
  stderr?: string;
  hint?: string;
  /** The argv that failed (program first), for logs; never contains secrets. */
  command?: string[];
}

export abstract class DriverError extends Error {
  abstract readonly code: DriverErrorCode;
  abstract readonly retryable: boolean;
  readonly site: string;
  readonly vm: string | undefined;
  readonly stderr: string;
  readonly hint: string;
  readonly command: string[] | undefined;

  constructor(message: string, ctx: DriverErrorContext, defaultHint: string) {
    super(message);
    this.name = new.target.name;
    this.site = ctx.site;
    this.vm = ctx.vm;
    this.stderr = ctx.stderr ?? '';
    this.hint = ctx.hint ?? defaultHint;
    this.command = ctx.command;
  }

  /** Plain data for logs, JSON output and activity failure details. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      site: this.site,
      vm: this.vm,
      stderr: this.stderr,
      hint: this.hint,
    };
  }
}

export class VmNotFoundError extends DriverError {
  readonly code = 'vm-not-found' as const;
  readonly retryable = false;
  constructor(ctx: DriverErrorContext & { vm: string }) {
    super(
      `VM '${ctx.vm}' does not exist at site '${ctx.site}'`,
      ctx,
      'check the VM name with `virsh list --all`',
    );
  }
}

export class SiteUnreachableError extends DriverError {
  readonly code = 'site-unreachable' as const;
  readonly retryable = true;
  constructor(ctx: DriverErrorContext, detail = 'the hypervisor did not answer') {
    super(
      `site '${ctx.site}' is unreachable: ${detail}`,
      ctx,
      "check that the site's libvirtd is running and its URI is reachable from this worker",
    );
  }
}

export class OperationTimedOutError extends DriverError {
  readonly code = 'timed-out' as const;
  readonly retryable = true;
  readonly timeoutMs: number;
  constructor(ctx: DriverErrorContext & { operation: string; timeoutMs: number }) {
    super(
      `${ctx.operation} did not finish within ${ctx.timeoutMs} ms at site '${ctx.site}'${ctx.vm ? ` (vm '${ctx.vm}')` : ''}`,
      ctx,
      'the site may be overloaded; retry, or raise the deadline',
    );
    this.timeoutMs = ctx.timeoutMs;
  }
}

export class AgentNotRespondingError extends DriverError {
  readonly code = 'agent-not-responding' as const;
  readonly retryable = true;
  constructor(ctx: DriverErrorContext & { vm: string }) {
    super(
      `the guest agent of VM '${ctx.vm}' at site '${ctx.site}' is not responding`,
      ctx,
      'the guest may still be booting, or qemu-guest-agent is not installed/running in it',
    );
  }
}

export class InvalidNameError extends DriverError {
  readonly code = 'invalid-name' as const;
  readonly retryable = false;
  /** What kind of value was refused: `VM`, `network`, `disk source path`, ... */
  readonly what: string;
  constructor(ctx: DriverErrorContext & { name: string; what: string; message: string }) {
    super(
      `refused before reaching the hypervisor: ${ctx.message}`,
      ctx,
      'use letters, digits, dot, dash and underscore, at most 64 characters',
    );
    this.what = ctx.what;
  }
}

/** The site holds a fence for the VM's runbook (drivers/fence-record.ts): it must not start here. */
export class VmFencedError extends DriverError {
  readonly code = 'vm-fenced' as const;
  readonly retryable = false;
  constructor(ctx: DriverErrorContext & { vm: string; message: string; hint: string }) {
    super(ctx.message, ctx, ctx.hint);
  }
}

/** Anything else virsh or qemu-img refused; the stderr says what. */
export class CommandFailedError extends DriverError {
  readonly code = 'command-failed' as const;
  readonly retryable = false;
  constructor(ctx: DriverErrorContext, detail: string) {
    super(`command failed at site '${ctx.site}': ${detail}`, ctx, 'see stderr');
  }
}

export function isDriverError(err: unknown): err is DriverError {
  return err instanceof DriverError;
}
