/**
 * A restorer over the recording driver, for orchestration tests of drills (waves, gates,
 * policies, cancellation) where no replica store exists. It builds nothing on disk: the copy is
 * the recording site's VM, started only when the drill's start action asks for it. The real restore (overlays on a replica, data read inside the copy) is tested on the lab.
 */
import type {
  IsolationProbeResult,
  RestorePreflightInput,
  RestorePreflightResult,
  SiteRestorer,
  TeardownProofResult,
} from '../../activities/restore.ts';
import { RestoreError } from '../../restore/errors.ts';
import { operationNumber, restorePrefix } from '../../restore/spec.ts';
import { RECORD_SIZE } from '../../workload/record.ts';
import { RECORDED_EPOCH_MS, RECORDED_RECORDS, type RecordingDriver } from './recording-driver.ts';

export const RECORDED_POINT_ID = '20260101T000000Z-1';

export function recordingRestorer(driver: RecordingDriver, opts: { pointAgeMs?: number } = {}): SiteRestorer {
  return {
    async preflight(input: RestorePreflightInput): Promise<RestorePreflightResult> {
      if (input.selector.kind === 'point' && input.selector.pointId !== RECORDED_POINT_ID) {
        throw new RestoreError(
          'POINT_NOT_FOUND',
          `no point ${input.selector.pointId} exists at the secondary`,
          'use latest',
        );
      }
      const at = new Date(Date.now() - (opts.pointAgeMs ?? 1_000)).toISOString();
      return {
        pointId: RECORDED_POINT_ID,
        capturedAt: at,
        prefix: restorePrefix(input.purpose, input.runbook, operationNumber(input.operationId)),
        before: [],
        points: input.vms.map((vm) => ({
          vm,
          pointId: RECORDED_POINT_ID,
          checkpointAt: at,
          committedAt: at,
          consistency: { requested: 'crash', achieved: 'crash' },
          integrity: { state: 'not-yet' },
          kind: 'full',
          domain: vm,
          records: [
            {
              target: 'vdb',
              seq: RECORDED_RECORDS,
              timestampMs: RECORDED_EPOCH_MS + RECORDED_RECORDS,
              disk: 0,
              vm,
              validRecords: RECORDED_RECORDS,
              virtualSize: 64 * RECORD_SIZE,
            },
          ],
        })),
      };
    },
    // The copy is a definition of the VM's own name, made by prepare, so the recorded calls
    // (startVm, and shutdownVm on teardown) and the failure rules keyed by VM name read as
    // before restores.
    async prepare(t) {
      // Built from the point: defined here when the site does not hold it (it never does at first).
      const known = (await driver.listVms()).some((v) => v.name === t.vm);
      if (!known) await driver.defineVm(`<domain><name>${t.vm}</name></domain>`);
      return { name: t.vm, created: true };
    },
    async start(t) {
      const info = await driver.inspectVm(t.vm);
      if (info.state === 'running') return { name: t.vm, started: false };
      const r = await driver.startVm(t.vm);
      return { name: t.vm, started: !r.alreadyRunning };
    },
    async teardown(t) {
      const info = await driver.inspectVm(t.vm);
      if (info.state !== 'running') return { removed: false, detail: 'not running' };
      await driver.shutdownVm(t.vm, { deadlineMs: 60_000 });
      return { removed: true, detail: 'stopped' };
    },
    async probeIsolation(input): Promise<IsolationProbeResult[]> {
      return [
        {
          vm: input.vm,
          domain: input.domain,
          target: '192.0.2.1',
          method: 'recorded',
          outcome: 'isolated',
          detail: 'recording driver: no network',
          at: new Date().toISOString(),
        },
      ];
    },
    async proveTeardown(input): Promise<TeardownProofResult> {
      const prefix = restorePrefix(input.purpose, input.runbook, operationNumber(input.operationId));
      const left = (await driver.listVms()).filter((v) => v.name.startsWith(prefix) && v.state === 'running');
      const facts = [
        {
          fact: `no running domain named ${prefix}*`,
          holds: left.length === 0,
          detail: left.map((v) => v.name).join(', ') || 'none',
        },
      ];
      return { facts, after: [], proven: left.length === 0, at: new Date().toISOString() };
    },
  };
}
