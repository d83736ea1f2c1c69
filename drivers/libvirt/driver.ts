/**
 * SiteDriver over virsh. Every verb checks its names first (nothing unsafe reaches a process),
 * and every verb is idempotent: the wanted end state already holding is a success that says so.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CommandFailedError,
  InvalidNameError,
  OperationTimedOutError,
  SiteUnreachableError,
  VmFencedError,
  VmNotFoundError,
} from '../errors.ts';
import { type FenceRecord, fencedMessage, unfenceHint } from '../fence-record.ts';
import { assertSafeName } from '../names.ts';
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
} from '../types.ts';
import { agentCommand, agentExec, agentReadFile, agentWriteFile } from './agent.ts';
import { classifyVirshError, isAlreadyRunning, isNotRunning } from './classify.ts';
import { buildDomainXml, withUuid } from './domain-build.ts';
import { domainNameOf, parseDomainXml } from './domain-xml.ts';
import { addressesFromAgent, addressesFromDomifaddr, routableAddresses } from './guest-addresses.ts';
import * as host from './host.ts';
import { parseKeyValues, parseNameList, toVmState, yes } from './parse.ts';
import { readFrom, waitForLine } from './serial.ts';
import { clearConfigSerialRunOffset, readSerialRunOffset, recordSerialRunOffset } from './serial-run.ts';
import { gracefulShutdown } from './shutdown.ts';
import type { Virsh } from './virsh.ts';

export interface LibvirtDriverOptions {
  site: string;
  virsh: Virsh;
  /** Maps a path as the site's daemon sees it to this process's view (e.g. a mount namespace). */
  hostPath: (sitePath: string) => string;
  /** The site's fence holding a VM, read before every start (absent: nothing is fenced). */
  fenceOf?: (vm: string) => Promise<FenceRecord | undefined>;
}

export class LibvirtDriver implements SiteDriver {
  readonly site: string;
  private readonly virsh: Virsh;
  private readonly hostPath: (p: string) => string;
  private readonly fenceOf: LibvirtDriverOptions['fenceOf'];

  constructor(opts: LibvirtDriverOptions) {
    this.site = opts.site;
    this.virsh = opts.virsh;
    this.hostPath = opts.hostPath;
    this.fenceOf = opts.fenceOf;
  }

  private checkName(name: string): void {
    assertSafeName(name, 'VM name', this.site);
  }

  /** The state of a domain, or 'missing'. */
  async vmState(name: string): Promise<VmState | 'missing'> {
    this.checkName(name);
    try {
      return toVmState(await this.virsh.run(['domstate', '--domain', name], { vm: name }));
    } catch (err) {
      if (err instanceof VmNotFoundError) return 'missing';
      throw err;
    }
  }

  async listVms(): Promise<VmInfo[]> {
    const names = parseNameList(await this.virsh.run(['list', '--all', '--name']));
    // One at a time: running inspections in parallel measured no faster on 2 busy CPUs.
    const out: VmInfo[] = [];
    for (const name of names) {
      try {
        out.push(await this.inspectVm(name));
      } catch (err) {
        // A transient domain can vanish between the list and the inspect; a domain whose name
        // breaks the name rule cannot be in a runbook, so it is left out rather than failing all.
        if (!(err instanceof VmNotFoundError) && !(err instanceof InvalidNameError)) throw err;
      }
    }
    return out;
  }

  async inspectVm(name: string): Promise<VmInfo> {
    this.checkName(name);
    const [info, xml] = await Promise.all([
      this.virsh.run(['dominfo', '--domain', name], { vm: name }),
      this.virsh.run(['dumpxml', '--domain', name], { vm: name }),
    ]);
    const kv = parseKeyValues(info);
    const d = parseDomainXml(xml);
    return {
      name: d.name,
      uuid: d.uuid,
      state: toVmState(kv.get('state') ?? ''),
      memoryMiB: d.memoryMiB,
      vcpus: d.vcpus,
      disks: d.disks,
      nics: d.nics,
      autostart: yes(kv.get('autostart')),
      persistent: yes(kv.get('persistent')),
    };
  }

  async domainDefinition(name: string): Promise<string> {
    this.checkName(name);
    return this.virsh.run(['dumpxml', '--inactive', '--domain', name], { vm: name });
  }

  /** Runs a virsh verb that takes an XML file, from a private temporary file. */
  private async withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-xml-'));
    try {
      const file = join(dir, 'domain.xml');
      await writeFile(file, xml, { mode: 0o600 });
      return await fn(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async defineVm(xml: string): Promise<{ name: string; created: boolean }> {
    const name = domainNameOf(xml, this.site);
    let existingUuid: string | undefined;
    try {
      existingUuid = parseDomainXml(await this.domainDefinition(name)).uuid;
    } catch (err) {
      if (!(err instanceof VmNotFoundError)) throw err;
    }
    // A definition without a uuid would be refused as a different domain of the same name.
    const toDefine = existingUuid && !parseDomainXml(xml).uuid ? withUuid(xml, existingUuid) : xml;
    await this.withXmlFile(toDefine, (file) => this.virsh.run(['define', '--file', file], { vm: name }));
    return { name, created: existingUuid === undefined };
  }

  async defineDomain(spec: DomainSpec): Promise<{ name: string; created: boolean }> {
    return this.defineVm(buildDomainXml(spec, this.site));
  }

  async undefineVm(name: string): Promise<{ removed: boolean }> {
    this.checkName(name);
    const res = await this.virsh.tryRun(
      ['undefine', '--domain', name, '--snapshots-metadata', '--checkpoints-metadata'],
      { vm: name },
    );
    if (res.code === 0) return { removed: true };
    const err = classifyVirshError(res.stderr, { site: this.site, vm: name });
    if (err instanceof VmNotFoundError) return { removed: false };
    // A running transient domain has nothing to undefine.
    if (/transient domain/i.test(res.stderr)) return { removed: false };
    throw err;
  }

  /** Size of a serial log as this process sees it; 0 when it does not exist yet. */
  private async logSize(sitePath: string | undefined): Promise<number> {
    if (!sitePath) return 0;
    try {
      return (await stat(this.hostPath(sitePath))).size;
    } catch {
      return 0;
    }
  }

  async startVm(name: string): Promise<{ started: boolean; alreadyRunning: boolean; serialOffset?: number }> {
    const state = await this.vmState(name);
    if (state === 'missing') throw new VmNotFoundError({ site: this.site, vm: name });
    if (state === 'running') return { started: false, alreadyRunning: true };
    const fence = await this.fenceOf?.(name);
    if (fence) {
      throw new VmFencedError({
        site: this.site,
        vm: name,
        message: fencedMessage(fence, name),
        hint: unfenceHint(fence),
      });
    }
    if (state === 'paused') {
      await this.virsh.run(['resume', '--domain', name], { vm: name });
      return { started: true, alreadyRunning: false };
    }
    const def = parseDomainXml(await this.domainDefinition(name));
    // A log that is not appended starts empty with the run.
    const serialOffset = def.serialLogAppends ? await this.logSize(def.serialLogs[0]) : 0;
    if (def.serialLogAppends) await recordSerialRunOffset(this.virsh, name, serialOffset);
    const res = await this.virsh.tryRun(['start', '--domain', name], { vm: name, timeoutMs: 30_000 });
    if (res.code === 0) {
      if (def.serialLogAppends) await clearConfigSerialRunOffset(this.virsh, name);
      return { started: true, alreadyRunning: false, serialOffset };
    }
    if (isAlreadyRunning(res.stderr)) return { started: false, alreadyRunning: true };
    throw classifyVirshError(res.stderr, { site: this.site, vm: name }, 'start');
  }

  /**
   * Agent first (clean, the guest syncs), then ACPI, then a forced stop once the deadline has
   * passed (see shutdown.ts).
   */
  async shutdownVm(name: string, opts: { deadlineMs: number }): Promise<{ method: ShutdownMethod }> {
    const state = await this.vmState(name);
    if (state === 'missing') throw new VmNotFoundError({ site: this.site, vm: name });
    return gracefulShutdown(
      {
        state: (n) => this.vmState(n),
        request: async (n, mode, timeoutMs) => {
          try {
            const res = await this.virsh.tryRun(['shutdown', '--domain', n, '--mode', mode], {
              vm: n,
              timeoutMs,
            });
            if (res.code === 0) return 'asked';
            return isNotRunning(res.stderr) ? 'not-running' : 'refused';
          } catch (err) {
            // A request that hangs (a wedged agent: libvirt waits up to 60 s) is a refusal once
            // the site is shown to answer; a dead site still throws from vmState.
            if (!(err instanceof SiteUnreachableError)) throw err;
            await this.vmState(n);
            return 'refused';
          }
        },
        destroy: (n) => this.destroyVm(n),
      },
      name,
      state,
      opts.deadlineMs,
    );
  }

  async destroyVm(name: string): Promise<{ destroyed: boolean }> {
    this.checkName(name);
    const res = await this.virsh.tryRun(['destroy', '--domain', name], { vm: name });
    if (res.code === 0) return { destroyed: true };
    if (isNotRunning(res.stderr)) return { destroyed: false };
    const err = classifyVirshError(res.stderr, { site: this.site, vm: name });
    // Gone is stopped: a transient domain that was destroyed before a retry no longer exists.
    if (err instanceof VmNotFoundError) return { destroyed: false };
    throw err;
  }

  async agentExec(name: string, argv: string[], opts: { timeoutMs: number }): Promise<ExecResult> {
    this.checkName(name);
    return agentExec(this.virsh, name, argv, opts.timeoutMs);
  }

  async agentReadFile(name: string, path: string, offset: number, length: number): Promise<Buffer> {
    this.checkName(name);
    return agentReadFile(this.virsh, name, path, offset, length, 10);
  }

  async agentWriteFile(name: string, path: string, data: Buffer): Promise<void> {
    this.checkName(name);
    return agentWriteFile(this.virsh, name, path, data, 10);
  }

  /** Raw guest-agent command (e.g. `guest-ping`, `guest-fsfreeze-status`); returns `return`. */
  async agentCommand(
    name: string,
    execute: string,
    args?: Record<string, unknown>,
    timeoutS = 5,
  ): Promise<unknown> {
    this.checkName(name);
    return agentCommand(this.virsh, name, args ? { execute, arguments: args } : { execute }, timeoutS);
  }

  /** A QMP command on the domain's monitor, for what libvirt has no verb for; returns `return`. */
  async qmp(name: string, execute: string, args?: Record<string, unknown>): Promise<unknown> {
    this.checkName(name);
    const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
    const out = await this.virsh.run(['qemu-monitor-command', '--domain', name, '--cmd', cmd], { vm: name });
    try {
      return (JSON.parse(out) as { return?: unknown }).return;
    } catch {
      throw new CommandFailedError({ site: this.site, vm: name, stderr: out }, 'QMP reply is not JSON');
    }
  }

  private async serialLogPath(name: string): Promise<string> {
    this.checkName(name);
    const xml = await this.virsh.run(['dumpxml', '--domain', name], { vm: name });
    const path = parseDomainXml(xml).serialLogs[0];
    if (!path) {
      throw new CommandFailedError(
        { site: this.site, vm: name, hint: "give the domain's <serial> a <log file='...'/>" },
        `VM '${name}' has no serial log file`,
      );
    }
    return this.hostPath(path);
  }

  async readSerial(name: string): Promise<string> {
    const path = await this.serialLogPath(name);
    try {
      return (await readFrom(path, 0)).text;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  async waitSerial(
    name: string,
    pattern: string,
    opts: { timeoutMs: number; fromOffset?: number },
  ): Promise<{ line: string; offset: number }> {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch (err) {
      throw new InvalidNameError({
        site: this.site,
        name: pattern,
        what: 'serial pattern',
        message: `serial pattern ${JSON.stringify(pattern)} is not a regular expression (${(err as Error).message})`,
      });
    }
    const path = await this.serialLogPath(name);
    const hit = await waitForLine(path, re, {
      fromOffset: opts.fromOffset ?? 0,
      timeoutMs: opts.timeoutMs,
      checkAlive: async () => {
        const s = await this.vmState(name);
        if (s === 'missing') throw new VmNotFoundError({ site: this.site, vm: name });
        if (s === 'shut off' || s === 'crashed') {
          throw new CommandFailedError(
            { site: this.site, vm: name },
            `VM '${name}' stopped before /${pattern}/ appeared`,
          );
        }
      },
    });
    if (!hit) {
      throw new OperationTimedOutError({
        site: this.site,
        vm: name,
        operation: `waiting for serial /${pattern}/`,
        timeoutMs: opts.timeoutMs,
      });
    }
    return hit;
  }

  async serialRunOffset(name: string): Promise<number | undefined> {
    this.checkName(name);
    return readSerialRunOffset(this.virsh, name);
  }

  /** The guest agent first (it knows static addresses); the site's leases and ARP table if not. */
  async vmAddresses(name: string): Promise<VmAddress[]> {
    const info = await this.inspectVm(name);
    if (info.state !== 'running') return [];
    const macs = info.nics.map((n) => n.mac);
    try {
      const found = routableAddresses(
        addressesFromAgent(await this.agentCommand(name, 'guest-network-get-interfaces')),
        macs,
      );
      if (found.length > 0) return found;
    } catch (err) {
      if (err instanceof VmNotFoundError || err instanceof SiteUnreachableError) throw err;
      // Agent not answering (still booting, or none): ask the host side instead.
    }
    for (const source of ['lease', 'arp'] as const) {
      const res = await this.virsh.tryRun(['domifaddr', '--domain', name, '--source', source], { vm: name });
      if (res.code !== 0) continue;
      const found = routableAddresses(addressesFromDomifaddr(res.stdout, source), macs);
      if (found.length > 0) return found;
    }
    return [];
  }

  async setAutostart(name: string, enabled: boolean): Promise<void> {
    this.checkName(name);
    await this.virsh.run(['autostart', '--domain', name, ...(enabled ? [] : ['--disable'])], { vm: name });
  }

  async createTransient(
    spec: DomainSpec,
  ): Promise<{ name: string; created: boolean; alreadyRunning: boolean; serialOffset?: number }> {
    const xml = buildDomainXml(spec, this.site);
    const state = await this.vmState(spec.name);
    if (state === 'running' || state === 'paused') {
      return { name: spec.name, created: false, alreadyRunning: true };
    }
    if (state !== 'missing') {
      throw new CommandFailedError(
        { site: this.site, vm: spec.name, hint: 'give the transient copy its own name' },
        `a stopped domain named '${spec.name}' is already defined`,
      );
    }
    const serialOffset = await this.logSize(spec.serialLog);
    const res = await this.withXmlFile(xml, (file) =>
      this.virsh.tryRun(['create', '--file', file], { vm: spec.name, timeoutMs: 30_000 }),
    );
    if (res.code === 0) return { name: spec.name, created: true, alreadyRunning: false, serialOffset };
    // A concurrent retry got there first.
    if (/already exists|already active/i.test(res.stderr)) {
      return { name: spec.name, created: false, alreadyRunning: true };
    }
    throw classifyVirshError(res.stderr, { site: this.site, vm: spec.name }, 'create');
  }

  listNetworks(): Promise<NetworkInfo[]> {
    return host.listNetworks(this.virsh);
  }

  storageInfo(path: string): Promise<StorageInfo> {
    return host.storageInfo(this.hostPath(path));
  }

  hostInfo(): Promise<HostInfo> {
    return host.hostInfo(this.virsh);
  }

  imageInfo(path: string): Promise<ImageInfo> {
    if (!path.startsWith('/')) {
      throw new InvalidNameError({
        site: this.site,
        name: path,
        what: 'image path',
        message: `image path ${JSON.stringify(path)} is not absolute`,
      });
    }
    return host.imageInfo(this.virsh, this.hostPath(path));
  }
}
