/**
 * What Lifeboat needs from a site's hypervisor. The real implementation is drivers/libvirt/;
 * every method is idempotent because Temporal retries the activities that call it.
 */
export type VmState = 'running' | 'paused' | 'shut off' | 'crashed' | 'other';

export interface VmDisk {
  /** Guest device name, e.g. `vda`. */
  target: string;
  /** Host path of the top image. */
  source: string;
  format: string;
  /** `disk` or `cdrom`; absent means disk. */
  device?: string;
  readonly?: boolean;
}

export interface VmNic {
  network: string;
  mac: string;
  /** Set instead of `network` (which is then '') when the NIC is on a host bridge. */
  bridge?: string;
}

export interface VmInfo {
  name: string;
  uuid: string;
  state: VmState;
  memoryMiB: number;
  vcpus: number;
  disks: VmDisk[];
  nics: VmNic[];
  autostart: boolean;
  /** False for transient domains (drill/test VMs), which vanish when stopped. */
  persistent?: boolean;
}

/** A domain to define or create, built into XML by the driver (never by string pasting). */
export interface DomainSpec {
  name: string;
  /** Keep the uuid to redefine an existing domain; omit for a fresh one. */
  uuid?: string;
  memoryMiB: number;
  vcpus: number;
  /** Direct kernel boot (the lab's tiny guests); omit to boot from the first disk. */
  boot?: { kernel: string; initrd?: string; cmdline?: string };
  disks: Array<{ target: string; source: string; format: string; readonly?: boolean }>;
  /** NICs by libvirt network name (the site's name, after runbook network mapping). */
  nics: Array<{ network: string; mac?: string }>;
  /** File that receives the serial console; readSerial/waitSerial read it. */
  serialLog?: string;
  /** Adds the qemu-guest-agent channel (default true). */
  guestAgent?: boolean;
  /** `qemu` (TCG, the default here) or `kvm`. */
  type?: 'qemu' | 'kvm';
}

export interface NetworkInfo {
  name: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  bridge?: string;
}

export interface StorageInfo {
  path: string;
  exists: boolean;
  /** A file could be created and removed in it. */
  writable: boolean;
  /** Bytes available to an unprivileged writer (statfs bavail). */
  freeBytes: number;
  totalBytes: number;
}

export interface HostInfo {
  cpus: number;
  totalMemoryBytes: number;
  /** MemFree only. */
  freeMemoryBytes: number;
  /** Free + buffers + page cache: what new VMs can realistically get. */
  availableMemoryBytes: number;
}

export interface ImageInfo {
  path: string;
  format: string;
  virtualSizeBytes: number;
  /** Bytes allocated on the host. */
  actualSizeBytes: number;
  backingFile?: string;
}

/** An address a guest holds, as its agent (or the site's ARP/lease table) reports it. */
export interface VmAddress {
  /** Guest interface name (`eth0`), or '' when the source does not know it. */
  interface: string;
  mac: string;
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
  source: 'agent' | 'arp' | 'lease';
}

export type ShutdownMethod = 'agent' | 'acpi' | 'forced' | 'already-off';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface SiteDriver {
  readonly site: string;
  listVms(): Promise<VmInfo[]>;
  /** Throws VmNotFoundError. */
  inspectVm(name: string): Promise<VmInfo>;
  /** The inactive domain definition (XML), as the site would redefine it. */
  domainDefinition(name: string): Promise<string>;
  /** Redefining keeps the existing uuid when the XML has none; `created` is false then. */
  defineVm(xml: string): Promise<{ name: string; created: boolean }>;
  /** A missing VM is `removed: false`, not an error. */
  undefineVm(name: string): Promise<{ removed: boolean }>;
  /**
   * `serialOffset`: size of the serial log just before this start, to pass to waitSerial as
   * `fromOffset` when the log is appended across boots (absent when already running).
   */
  startVm(name: string): Promise<{ started: boolean; alreadyRunning: boolean; serialOffset?: number }>;
  shutdownVm(name: string, opts: { deadlineMs: number }): Promise<{ method: ShutdownMethod }>;
  /** A stopped or missing VM is `destroyed: false`, not an error (transient VMs vanish). */
  destroyVm(name: string): Promise<{ destroyed: boolean }>;
  /** A QMP command on a running VM's monitor (what libvirt has no verb for); returns `return`. */
  qmp?(name: string, execute: string, args?: Record<string, unknown>): Promise<unknown>;
  agentExec(name: string, argv: string[], opts: { timeoutMs: number }): Promise<ExecResult>;
  /**
   * Reads bytes of a file (or block device) inside the guest through its agent: how a restored
   * VM's own view of its data is read. Short at end of file.
   */
  agentReadFile(name: string, path: string, offset: number, length: number): Promise<Buffer>;
  /**
   * Writes a whole file inside the guest (created or truncated) through its agent: how the
   * commands a `data` check needs reach the guest's fsfreeze hook before a freeze.
   */
  agentWriteFile(name: string, path: string, data: Buffer): Promise<void>;
  /** The serial log's content (since the domain last started, or since its creation if appended). */
  readSerial(name: string): Promise<string>;
  /**
   * Waits for a serial line matching `pattern` (a JavaScript regular expression, tested line by
   * line), looking at output from byte `fromOffset` on (default 0). Throws OperationTimedOutError.
   * `offset` is the byte just after the matching line, to wait for the next one.
   */
  waitSerial(
    name: string,
    pattern: string,
    opts: { timeoutMs: number; fromOffset?: number },
  ): Promise<{ line: string; offset?: number }>;
  /**
   * Byte offset of the serial log where the domain's current run began, as recorded by startVm
   * with the running domain (so a retry after a crash still finds it); undefined when the domain
   * was started outside the driver or its log is not appended across boots.
   */
  serialRunOffset(name: string): Promise<number | undefined>;
  /**
   * Routable addresses of a running guest (loopback and link-local left out), IPv4 first: from
   * the guest agent, else the site's ARP table or DHCP leases. Empty when none is known yet.
   */
  vmAddresses(name: string): Promise<VmAddress[]>;
  setAutostart(name: string, enabled: boolean): Promise<void>;
  /**
   * Starts a transient domain (gone once stopped), e.g. a drill copy on the bubble network.
   * Idempotent: a running domain of that name gives `alreadyRunning: true`.
   */
  createTransient(
    spec: DomainSpec,
  ): Promise<{ name: string; created: boolean; alreadyRunning: boolean; serialOffset?: number }>;
  listNetworks(): Promise<NetworkInfo[]>;
  /** Free space and writability of a directory as this site's worker sees it. */
  storageInfo(path: string): Promise<StorageInfo>;
  hostInfo(): Promise<HostInfo>;
  /** `qemu-img info` of a disk image. */
  imageInfo(path: string): Promise<ImageInfo>;
}
