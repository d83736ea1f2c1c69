import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { REPO_ROOT } from '../platform/home.ts';
import { LabError } from './errors.ts';

/**
 * What the lab needs from a runbook: its groups and VM names, in order. The full runbook
 * language lives in runbooks/; this reader accepts any valid runbook and ignores the rest.
 */
const LabRunbookShape = z.object({
  metadata: z.object({ name: z.string() }),
  groups: z
    .array(z.object({ name: z.string(), vms: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/)).min(1) }))
    .min(1),
});

export interface LabRunbook {
  name: string;
  file: string;
  vms: Array<{ name: string; group: string }>;
}

export const DEFAULT_LAB_RUNBOOK = path.join(REPO_ROOT, 'runbooks', 'examples', 'lab.yaml');

/** Resolves `lab.yaml`, `lab-mini.yaml` or a path to a runbook file. */
export function resolveLabRunbook(arg: string | undefined): string {
  if (!arg) return DEFAULT_LAB_RUNBOOK;
  if (!arg.includes('/')) return path.join(REPO_ROOT, 'runbooks', 'examples', arg);
  return path.resolve(arg);
}

export function readLabRunbook(file: string): LabRunbook {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new LabError(
      'BAD_RUNBOOK',
      `cannot read runbook: ${(err as Error).message}`,
      { file },
      'run `lifeboat validate`',
    );
  }
  const r = LabRunbookShape.safeParse(doc);
  if (!r.success) {
    throw new LabError(
      'BAD_RUNBOOK',
      `runbook has no usable groups/vms: ${r.error.issues[0]?.message ?? ''}`,
      { file },
      'lab VM names are lower-case letters, digits and dashes, up to 31 characters',
    );
  }
  const vms = r.data.groups.flatMap((g) => g.vms.map((name) => ({ name, group: g.name })));
  return { name: r.data.metadata.name, file, vms };
}

/** The lab's inventory: the hardware of each VM the runbook names (a runbook names VMs only). */
export interface LabVmHardware {
  memoryMiB: number;
  systemDiskMiB: number;
  dataDisks: number;
  dataDiskMiB: number;
  /** Workload records per second. */
  rate: number;
}

const DEFAULT_HARDWARE: LabVmHardware = {
  memoryMiB: 128,
  systemDiskMiB: 32,
  dataDisks: 1,
  dataDiskMiB: 64,
  rate: 5,
};

/** VMs named `db-*` carry two data disks (a database with separate data and log volumes). */
export function labVmHardware(vm: string): LabVmHardware {
  return vm.startsWith('db-') ? { ...DEFAULT_HARDWARE, dataDisks: 2 } : DEFAULT_HARDWARE;
}
