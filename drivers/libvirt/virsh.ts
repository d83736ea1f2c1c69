/**
 * Runs virsh and qemu-img for one site: argv arrays only, a hard timeout on every call, and
 * failures turned into typed errors. A call that hits the timeout means the site's daemon did
 * not answer, which is what "site unreachable" means to the caller.
 */
import { CommandFailedError, SiteUnreachableError } from '../errors.ts';
import { classifyVirshError, errorDetail } from './classify.ts';
import type { CommandResult, RunCommand } from './exec.ts';

export interface VirshOptions {
  site: string;
  uri: string;
  run: RunCommand;
  /** Per-call bound; a dead site is reported within it. */
  timeoutMs: number;
  virshPath: string;
  qemuImgPath: string;
}

export interface CallOptions {
  vm?: string;
  timeoutMs?: number;
  /** Name for timeout errors, e.g. `start`. */
  operation?: string;
}

export class Virsh {
  constructor(readonly opts: VirshOptions) {}

  argv(args: readonly string[]): string[] {
    return ['-c', this.opts.uri, ...args];
  }

  /**
   * Runs virsh and returns the raw result. Throws only when the site did not answer (timeout or
   * connection failure); other failures are left to the caller, which may treat them as success
   * (idempotent verbs).
   */
  async tryRun(args: readonly string[], o: CallOptions = {}): Promise<CommandResult> {
    const argv = this.argv(args);
    const timeoutMs = o.timeoutMs ?? this.opts.timeoutMs;
    const res = await this.opts.run(this.opts.virshPath, argv, { timeoutMs });
    const command = [this.opts.virshPath, ...argv];
    if (res.timedOut) {
      throw new SiteUnreachableError(
        { site: this.opts.site, vm: o.vm, stderr: res.stderr, command },
        `virsh ${args[0] ?? ''} got no answer within ${timeoutMs} ms`,
      );
    }
    if (res.code !== 0) {
      const err = classifyVirshError(res.stderr, { site: this.opts.site, vm: o.vm, command }, o.operation);
      if (err.code === 'site-unreachable') throw err;
      if (res.code === null && res.stderr.includes('ENOENT')) {
        throw new CommandFailedError(
          { site: this.opts.site, stderr: res.stderr, command },
          'virsh is not installed',
        );
      }
    }
    return res;
  }

  /** Runs virsh; returns stdout or throws the classified error. */
  async run(args: readonly string[], o: CallOptions = {}): Promise<string> {
    const res = await this.tryRun(args, o);
    if (res.code !== 0) {
      throw classifyVirshError(
        res.stderr,
        { site: this.opts.site, vm: o.vm, command: [this.opts.virshPath, ...this.argv(args)] },
        o.operation,
      );
    }
    return res.stdout;
  }

  /** Runs `qemu-img <args>`; returns stdout. */
  async qemuImg(args: readonly string[]): Promise<string> {
    const res = await this.opts.run(this.opts.qemuImgPath, args, { timeoutMs: this.opts.timeoutMs });
    const command = [this.opts.qemuImgPath, ...args];
    if (res.timedOut) {
      throw new SiteUnreachableError(
        { site: this.opts.site, stderr: res.stderr, command },
        `qemu-img got no answer within ${this.opts.timeoutMs} ms`,
      );
    }
    if (res.code !== 0) {
      throw new CommandFailedError(
        { site: this.opts.site, stderr: res.stderr, command },
        errorDetail(res.stderr),
      );
    }
    return res.stdout;
  }
}
