/**
 * A SiteDriver for tests: an in-memory site that records every call with its start and end
 * time, so tests can assert ordering and parallelism. With `file`, its VMs, its log and its
 * failure counters live in one JSON file rewritten atomically after every call, so the record
 * survives a SIGKILLed worker and a restarted worker picks up the same site.
 * Lives under test/ only: the product never defaults to a fake.
 */

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckProbes } from '../../activities/checks.ts';
import {
  CommandFailedError,
  OperationTimedOutError,
  SiteUnreachableError,
  VmNotFoundError,
} from '../../drivers/errors.ts';
import type {
  DomainSpec,
  ExecResult,
  HostInfo,
  ImageInfo,
  NetworkInfo,
  ShutdownMethod,
  SiteDriver,
  StorageInfo,
  VmAddress,
  VmInfo,
  VmState,
} from '../../drivers/types.ts';
import { encodeRecord, RECORD_SIZE } from '../../workload/record.ts';

export interface RecordedCall {
  site: string;
  method: string;
  vm?: string;
  start: number;
  end: number;
  pid: number;
  ok: boolean;
  detail?: string;
}

export interface FailureRule {
  method: string;
  vm?: string;
  /** How many calls fail (default: all). */
  times?: number;
  /** Retryable failures (site unreachable) let Temporal retry; others fail at once. */
  retryable?: boolean;
  /** The call takes effect, then fails retryably: a completion lost after the action was done. */
  afterEffect?: boolean;
}

export interface RecordingDriverOptions {
  /** VMs defined at the site at the start (state `shut off` unless given). */
  vms?: Array<{ name: string; state?: VmState; network?: string }>;
  /** Delay of every mutating call, or per method (ms), so parallel calls overlap visibly. */
  delayMs?: number | Record<string, number>;
  failures?: FailureRule[];
  /** Persist VMs, log and failure counters here (JSON, atomic rewrite). */
  file?: string;
  /** Record read-only calls (inspectVm, listVms) too; off keeps large benchmarks light. */
  recordReads?: boolean;
  /** Keep at most this many calls in memory (benchmarks); default unbounded. */
  maxCalls?: number;
}

interface SiteFile {
  vms: Record<string, VmInfo>;
  calls: RecordedCall[];
  failuresUsed: number[];
}

const READS = new Set(['inspectVm', 'listVms']);

/** What the recording driver's guests hold on their data disk (see agentReadFile). */
export const RECORDED_RECORDS = 3;
export const RECORDED_EPOCH_MS = 1_700_000_000_000;

export class RecordingDriver implements SiteDriver, CheckProbes {
  private data: SiteFile;
  private readonly opts: RecordingDriverOptions;

  constructor(
    readonly site: string,
    opts: RecordingDriverOptions = {},
  ) {
    this.opts = opts;
    const loaded = opts.file ? readSiteFile(opts.file) : undefined;
    this.data = loaded ?? {
      vms: Object.fromEntries((opts.vms ?? []).map((v) => [v.name, vmInfo(v.name, v.state, v.network)])),
      calls: [],
      failuresUsed: (opts.failures ?? []).map(() => 0),
    };
    this.persist();
  }

  /** Every recorded call, in completion order. */
  get calls(): readonly RecordedCall[] {
    return this.data.calls;
  }

  vmState(name: string): VmState | undefined {
    return this.data.vms[name]?.state;
  }

  /** Reads a persisted site file (for a site whose driver runs in another process). */
  static readCalls(file: string): RecordedCall[] {
    return readSiteFile(file)?.calls ?? [];
  }

  static readVms(file: string): Record<string, VmInfo> {
    return readSiteFile(file)?.vms ?? {};
  }

  private persist(): void {
    const file = this.opts.file;
    if (!file) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, file);
  }

  /**
   * Runs one call: waits its delay, applies any failure rule, then mutates and records in one
   * synchronous step, so a kill lands either before the call took effect or after it is logged.
   */
  private async call<T>(method: string, vm: string | undefined, fn: () => T): Promise<T> {
    const start = Date.now();
    const delay =
      typeof this.opts.delayMs === 'number' ? this.opts.delayMs : (this.opts.delayMs?.[method] ?? 0);
    if (delay > 0 && !READS.has(method)) await sleep(delay);
    const record = (ok: boolean, detail?: string): void => {
      if (READS.has(method) && !this.opts.recordReads) return;
      this.data.calls.push({
        site: this.site,
        method,
        vm,
        start,
        end: Date.now(),
        pid: process.pid,
        ok,
        detail,
      });
      const max = this.opts.maxCalls;
      if (max !== undefined && this.data.calls.length > max)
        this.data.calls.splice(0, this.data.calls.length - max);
    };
    const rules = this.opts.failures ?? [];
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as FailureRule;
      if (r.method !== method || (r.vm !== undefined && r.vm !== vm)) continue;
      const used = this.data.failuresUsed[i] ?? 0;
      if (r.times !== undefined && used >= r.times) continue;
      this.data.failuresUsed[i] = used + 1;
      if (r.afterEffect) {
        fn();
        record(true, 'took effect, completion lost');
        this.persist();
        throw new SiteUnreachableError({ site: this.site, vm }, 'injected lost completion');
      }
      record(false, 'injected failure');
      this.persist();
      const ctx = { site: this.site, vm };
      throw r.retryable
        ? new SiteUnreachableError(ctx, 'injected failure')
        : new CommandFailedError(ctx, `injected failure of ${method}`);
    }
    try {
      const result = fn();
      record(true);
      this.persist();
      return result;
    } catch (err) {
      record(false, err instanceof Error ? err.message : String(err));
      this.persist();
      throw err;
    }
  }

  private vm(name: string): VmInfo {
    const v = this.data.vms[name];
    if (!v) throw new VmNotFoundError({ site: this.site, vm: name });
    return v;
  }

  listVms(): Promise<VmInfo[]> {
    return this.call('listVms', undefined, () => Object.values(this.data.vms).map((v) => ({ ...v })));
  }
  inspectVm(name: string): Promise<VmInfo> {
    return this.call('inspectVm', name, () => ({ ...this.vm(name) }));
  }
  domainDefinition(name: string): Promise<string> {
    return this.call('domainDefinition', name, () => `<domain><name>${this.vm(name).name}</name></domain>`);
  }
  defineVm(xml: string): Promise<{ name: string; created: boolean }> {
    const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1] ?? 'unnamed';
    return this.call('defineVm', name, () => {
      const created = !this.data.vms[name];
      if (created) this.data.vms[name] = vmInfo(name);
      return { name, created };
    });
  }
  undefineVm(name: string): Promise<{ removed: boolean }> {
    return this.call('undefineVm', name, () => {
      const removed = Boolean(this.data.vms[name]);
      delete this.data.vms[name];
      return { removed };
    });
  }
  startVm(name: string): Promise<{ started: boolean; alreadyRunning: boolean }> {
    return this.call('startVm', name, () => {
      const v = this.vm(name);
      const alreadyRunning = v.state === 'running';
      v.state = 'running';
      return { started: !alreadyRunning, alreadyRunning };
    });
  }
  shutdownVm(name: string, _opts: { deadlineMs: number }): Promise<{ method: ShutdownMethod }> {
    return this.call('shutdownVm', name, () => {
      const v = this.vm(name);
      const method: ShutdownMethod = v.state === 'shut off' ? 'already-off' : 'acpi';
      v.state = 'shut off';
      return { method };
    });
  }
  destroyVm(name: string): Promise<{ destroyed: boolean }> {
    return this.call('destroyVm', name, () => {
      const v = this.vm(name);
      const destroyed = v.state !== 'shut off';
      v.state = 'shut off';
      return { destroyed };
    });
  }
  agentExec(name: string, argv: string[], _opts: { timeoutMs: number }): Promise<ExecResult> {
    return this.call('agentExec', name, () => {
      if (this.vm(name).state !== 'running')
        throw new CommandFailedError({ site: this.site, vm: name }, 'not running');
      return { exitCode: 0, stdout: `ran ${argv.join(' ')}\nok\n`, stderr: '' };
    });
  }
  /**
   * A data disk as the recording restorer's point describes it: records 1..RECORDED_RECORDS of
   * the VM, the rest blank.
   */
  agentWriteFile(name: string, _path: string, _data: Buffer): Promise<void> {
    return this.call('agentWriteFile', name, () => {
      if (this.vm(name).state !== 'running')
        throw new CommandFailedError({ site: this.site, vm: name }, 'not running');
    });
  }

  agentReadFile(name: string, _path: string, offset: number, length: number): Promise<Buffer> {
    return this.call('agentReadFile', name, () => {
      if (this.vm(name).state !== 'running')
        throw new CommandFailedError({ site: this.site, vm: name }, 'not running');
      const out = Buffer.alloc(length);
      for (let off = 0; off + RECORD_SIZE <= length; off += RECORD_SIZE) {
        const seq = (offset + off) / RECORD_SIZE + 1;
        if (seq > RECORDED_RECORDS) continue;
        encodeRecord({ seq, timestampMs: RECORDED_EPOCH_MS + seq, disk: 0, vm: name }).copy(out, off);
      }
      return out;
    });
  }
  readSerial(name: string): Promise<string> {
    return this.call('readSerial', name, () => (this.vm(name).state === 'running' ? 'boot\nlogin: ' : ''));
  }
  waitSerial(name: string, pattern: string, opts: { timeoutMs: number }): Promise<{ line: string }> {
    return this.call('waitSerial', name, () => {
      const line = this.vm(name).state === 'running' ? 'login: ' : '';
      if (!new RegExp(pattern).test(line)) {
        throw new OperationTimedOutError({
          site: this.site,
          vm: name,
          operation: 'waitSerial',
          timeoutMs: opts.timeoutMs,
        });
      }
      return { line };
    });
  }
  /** Its serial output has no earlier runs to skip; not recorded, it reads nothing. */
  serialRunOffset(_name: string): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }
  /** Not recorded: the probes below stand in for reaching the guest. */
  vmAddresses(name: string): Promise<VmAddress[]> {
    const running = this.data.vms[name]?.state === 'running';
    return Promise.resolve(
      running
        ? [
            {
              interface: 'eth0',
              mac: '52:54:00:00:00:01',
              family: 'ipv4',
              address: '192.0.2.1',
              prefix: 24,
              source: 'agent',
            },
          ]
        : [],
    );
  }
  setAutostart(name: string, enabled: boolean): Promise<void> {
    return this.call('setAutostart', name, () => {
      this.vm(name).autostart = enabled;
    });
  }
  createTransient(spec: DomainSpec): Promise<{ name: string; created: boolean; alreadyRunning: boolean }> {
    return this.call('createTransient', spec.name, () => {
      const existing = this.data.vms[spec.name];
      if (existing?.state === 'running') return { name: spec.name, created: false, alreadyRunning: true };
      this.data.vms[spec.name] = {
        ...vmInfo(spec.name, 'running', spec.nics[0]?.network),
        persistent: false,
      };
      return { name: spec.name, created: true, alreadyRunning: false };
    });
  }
  listNetworks(): Promise<NetworkInfo[]> {
    return this.call('listNetworks', undefined, () => []);
  }
  storageInfo(path: string): Promise<StorageInfo> {
    return this.call('storageInfo', undefined, () => ({
      path,
      exists: true,
      writable: true,
      freeBytes: 1e12,
      totalBytes: 2e12,
    }));
  }
  hostInfo(): Promise<HostInfo> {
    return this.call('hostInfo', undefined, () => ({
      cpus: 2,
      totalMemoryBytes: 8e9,
      freeMemoryBytes: 4e9,
      availableMemoryBytes: 6e9,
    }));
  }
  imageInfo(path: string): Promise<ImageInfo> {
    return this.call('imageInfo', undefined, () => ({
      path,
      format: 'qcow2',
      virtualSizeBytes: 0,
      actualSizeBytes: 0,
    }));
  }
  tcp(vm: string, port: number, _opts: { timeoutMs: number }): Promise<{ open: boolean; detail: string }> {
    return this.call('probeTcp', vm, () => {
      const open = this.vm(vm).state === 'running';
      return { open, detail: `port ${port} ${open ? 'open' : 'closed'}` };
    });
  }
  http(vm: string, _port: number, _path: string, _opts: { timeoutMs: number }): Promise<{ status: number }> {
    return this.call('probeHttp', vm, () => ({ status: this.vm(vm).state === 'running' ? 200 : 503 }));
  }
}

function vmInfo(name: string, state: VmState = 'shut off', network = 'default'): VmInfo {
  return {
    name,
    uuid: `00000000-0000-4000-8000-${name.length.toString(16).padStart(12, '0')}`,
    state,
    memoryMiB: 512,
    vcpus: 1,
    disks: [],
    nics: [{ network, mac: '52:54:00:00:00:01' }],
    autostart: false,
    persistent: true,
  };
}

function readSiteFile(file: string): SiteFile | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SiteFile;
  } catch {
    return undefined;
  }
}
