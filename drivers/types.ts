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
}

export interface VmNic {
  network: string;
  mac: string;
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
  defineVm(xml: string): Promise<{ name: string; created: boolean }>;
  undefineVm(name: string): Promise<{ removed: boolean }>;
  startVm(name: string): Promise<{ started: boolean; alreadyRunning: boolean }>;
  shutdownVm(name: string, opts: { deadlineMs: number }): Promise<{ method: ShutdownMethod }>;
  destroyVm(name: string): Promise<{ destroyed: boolean }>;
  agentExec(name: string, argv: string[], opts: { timeoutMs: number }): Promise<ExecResult>;
  readSerial(name: string): Promise<string>;
  waitSerial(name: string, pattern: string, opts: { timeoutMs: number }): Promise<{ line: string }>;
  setAutostart(name: string, enabled: boolean): Promise<void>;
}
