import { createHash } from 'node:crypto';
import { PRODUCTION_NETWORK, SITE_GUEST_PATH } from './config.ts';

/**
 * The lab VM's domain XML (pure). Paths are the ones inside the site's mount namespace, so the
 * same definition works on either site. TCG (`type='qemu'`): KVM cannot boot here.
 */
export interface LabDomainSpec {
  /** Domain name on its site. */
  name: string;
  /** The VM's identity inside the guest (the runbook's VM name). */
  vm: string;
  uuid: string;
  memoryMiB: number;
  /** Disk files inside the site: system disk first, then data disks (vdb, vdc, ...). */
  disks: string[];
  /** Address with prefix on the production network, e.g. 192.168.100.10/24. */
  address: string;
  mac: string;
  network: string;
  serialLog: string;
  serialSocket: string;
  /** Workload records per second on every data disk. */
  rate: number;
}

export function diskTarget(index: number): string {
  return `vd${String.fromCharCode('a'.charCodeAt(0) + index)}`;
}

function hex(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** A stable UUID per (site, domain), so redefining keeps the same identity. */
export function labUuid(seed: string): string {
  const h = hex(`uuid:${seed}`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A stable locally administered MAC (52:54:00 is QEMU's prefix) per VM. */
export function labMac(vm: string): string {
  const h = hex(`mac:${vm}`);
  return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;');
}

export function kernelCmdline(spec: Pick<LabDomainSpec, 'vm' | 'address' | 'disks' | 'rate'>): string {
  const data = spec.disks.slice(1).map((_, i) => diskTarget(i + 1));
  const parts = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    `lb.vm=${spec.vm}`,
    `lb.ip=${spec.address}`,
    `lb.rate=${spec.rate}`,
  ];
  if (data.length > 0) parts.push(`lb.data=${data.join(',')}`);
  return parts.join(' ');
}

export function domainXml(spec: LabDomainSpec): string {
  const disks = spec.disks
    .map(
      (file, i) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' discard='unmap'/>
      <source file='${esc(file)}'/>
      <target dev='${diskTarget(i)}' bus='virtio'/>
    </disk>`,
    )
    .join('\n');
  return `<domain type='qemu'>
  <name>${esc(spec.name)}</name>
  <uuid>${spec.uuid}</uuid>
  <title>lifeboat lab VM ${esc(spec.vm)}</title>
  <memory unit='MiB'>${spec.memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${SITE_GUEST_PATH}/vmlinuz</kernel>
    <initrd>${SITE_GUEST_PATH}/initramfs.cpio.gz</initrd>
    <cmdline>${esc(kernelCmdline(spec))}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${disks}
    <interface type='network'>
      <mac address='${spec.mac}'/>
      <source network='${esc(spec.network)}'/>
      <model type='virtio'/>
    </interface>
    <serial type='unix'>
      <source mode='bind' path='${esc(spec.serialSocket)}'/>
      <log file='${esc(spec.serialLog)}' append='on'/>
      <target port='0'/>
    </serial>
    <console type='unix'>
      <source mode='bind' path='${esc(spec.serialSocket)}'/>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

export const DEFAULT_NETWORK = PRODUCTION_NETWORK.name;
