/**
 * Site activities of a planned failover: shutting a primary VM down (guest agent, then ACPI,
 * then forced, and which one worked), and reading the workload's last record offline, from the
 * stopped VM's own disks at the primary and from a committed point's chain at the secondary.
 * Each observes first, so a retry acts once.
 */
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { VmNotFoundError } from '../drivers/errors.ts';
import type { ShutdownMethod, SiteDriver } from '../drivers/types.ts';
import type { ReplicaStore } from '../replication/store.ts';
import { RestoreError } from '../restore/errors.ts';
import { readLastRecord } from '../workload/reader.ts';
import { toFailure } from './vm.ts';

export interface ShutdownInput {
  operationId: string;
  vm: string;
  /** How long a clean shutdown (agent, then ACPI) may take before the VM is forced off. */
  deadlineMs: number;
}

export interface ShutdownResult {
  vm: string;
  /** Running when asked: a rollback starts only those again. */
  wasRunning: boolean;
  method: ShutdownMethod;
  at: string;
}

/** The last valid workload record of one disk, read offline. */
export interface DiskRecord {
  target: string;
  seq: number;
  timestampMs?: number;
  crc?: number;
  validRecords: number;
}

export interface WorkloadReadInput {
  vm: string;
  /** At the secondary: the committed point whose chain is read (absent: the VM's own disks). */
  pointId?: string;
}

export interface WorkloadReadResult {
  vm: string;
  source: string;
  disks: DiskRecord[];
}

export function createFailoverActivities(deps: { driver: SiteDriver; store?: ReplicaStore }) {
  const { driver } = deps;
  return {
    async failoverShutdown(input: ShutdownInput): Promise<ShutdownResult> {
      const at = () => new Date().toISOString();
      try {
        let state: string;
        try {
          state = (await driver.inspectVm(input.vm)).state;
        } catch (err) {
          if (err instanceof VmNotFoundError)
            return { vm: input.vm, wasRunning: false, method: 'already-off', at: at() };
          throw err;
        }
        if (state === 'shut off') return { vm: input.vm, wasRunning: false, method: 'already-off', at: at() };
        const r = await driver.shutdownVm(input.vm, { deadlineMs: input.deadlineMs });
        return { vm: input.vm, wasRunning: r.method !== 'already-off', method: r.method, at: at() };
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Reads every disk offline (the VM must be shut off, or the answer is only a lower bound). */
    async readWorkloadRecords(input: WorkloadReadInput): Promise<WorkloadReadResult> {
      const images: Array<{ target: string; path: string }> = [];
      let source: string;
      if (input.pointId !== undefined) {
        const store = deps.store;
        if (!store) {
          throw ApplicationFailure.nonRetryable(
            `site ${driver.site} has no replica store`,
            'NO_REPLICA_STORE',
          );
        }
        const m = await store.getPoint(input.vm, input.pointId);
        if (m === null) {
          throw new RestoreError(
            'POINT_NOT_FOUND',
            `no committed point ${input.pointId} of ${input.vm} at site ${driver.site}`,
            'list the points with `lifeboat points <runbook>`',
          ).toFailure();
        }
        const dir = store.pointDir(m.vm, m.pointId);
        for (const d of m.disks) images.push({ target: d.target, path: join(dir, d.image) });
        source = `point ${m.pointId} at site ${driver.site}`;
      } else {
        const info = await driver.inspectVm(input.vm).catch((err) => {
          throw toFailure(err);
        });
        for (const d of info.disks.filter((x) => x.device !== 'cdrom'))
          images.push({ target: d.target, path: d.source });
        source = `the disks of ${input.vm} at site ${driver.site} (${info.state})`;
      }
      const disks: DiskRecord[] = [];
      for (const img of images) {
        const scan = await readLastRecord(img.path);
        disks.push({
          target: img.target,
          seq: scan.lastSeq,
          validRecords: scan.validRecords,
          ...(scan.last ? { timestampMs: scan.last.timestampMs, crc: scan.last.crc } : {}),
        });
      }
      return { vm: input.vm, source, disks };
    },
  };
}
