/**
 * Tests and benchmarks borrow the one lab a machine has: a lab that was up (the demo's) is given
 * back working, its VMs reset and booted, its relay and site workers pointed at the server they
 * used before; a lab they brought up themselves is taken down.
 */
import { labDown, labReset, labStartWorkers, labStopWorkers, labUp } from './lab.ts';
import { type LabState, readState } from './state.ts';

export interface LentLab {
  /** The lab as it was found (undefined: there was none). */
  before: LabState | undefined;
  /** Gives the lab back as it was found. */
  giveBack(): Promise<void>;
}

/**
 * Notes how the lab is. With `stopWorkers`, the lab's own site workers stop for the loan: a
 * borrower that runs site workers of its own would otherwise meet them on the replication port.
 */
export async function borrowLab(opts: { stopWorkers?: boolean } = {}): Promise<LentLab> {
  const before = readState();
  if (opts.stopWorkers && before?.workers) await labStopWorkers();
  return {
    before,
    async giveBack() {
      if (!before) {
        if (readState() !== undefined) await labDown();
        return;
      }
      const port = Number.parseInt(before.relay?.listen?.split(':').at(-1) ?? '7233', 10);
      const now = readState();
      if (now?.ready && now.runbook === before.runbook) await labReset({ port });
      else {
        if (now) await labDown();
        await labUp({ runbook: before.runbook, port });
      }
      if (before.workers) await labStartWorkers({ port });
      else if (readState()?.workers) await labStopWorkers();
    },
  };
}
