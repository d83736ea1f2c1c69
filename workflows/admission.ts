/**
 * Which operations may start, given what the runbook is doing: a pure function, so the table is
 * unit-tested exhaustively and the controller's Update validator stays a one-liner.
 */
import type { ControllerOpKind, OperationRef, RunbookPhase } from './types.ts';

export type Admission =
  | { ok: true; preempt: OperationRef[] }
  | { ok: false; code: 'CONFLICT' | 'STATE'; message: string; hint: string; conflictsWith?: OperationRef };

/**
 * COMPATIBLE[running][requested]: may `requested` start while `running` is in flight?
 * A drill may run beside replication; nothing runs beside a failover or failback; one of a kind.
 */
export const COMPATIBLE: Record<ControllerOpKind, Record<ControllerOpKind, boolean>> = {
  replication: { replication: false, drill: true, failover: false, failback: false, reprotect: false },
  drill: { replication: true, drill: false, failover: false, failback: false, reprotect: false },
  failover: { replication: false, drill: false, failover: false, failback: false, reprotect: false },
  failback: { replication: false, drill: false, failover: false, failback: false, reprotect: false },
  reprotect: { replication: false, drill: false, failover: false, failback: false, reprotect: false },
};

/**
 * A failover or failback preempts an in-flight replication cycle (cancels it) instead of
 * waiting: when the primary is gone, its cycle would never finish.
 */
const PREEMPTS: Partial<Record<ControllerOpKind, ControllerOpKind[]>> = {
  failover: ['replication'],
  failback: ['replication'],
};

/** The runbook phases in which each kind may start at all. */
export const ALLOWED_PHASES: Record<ControllerOpKind, RunbookPhase[]> = {
  // After a committed failover the primary's disks are stale: replicating them in the old
  // direction would overwrite nothing useful and mislead; reprotect reverses the direction first.
  replication: ['normal', 'failed-back'],
  drill: ['normal', 'failed-back'],
  failover: ['normal', 'failed-back'],
  failback: ['failed-over-uncommitted', 'failed-over-committed'],
  reprotect: ['failed-over-committed'],
};

export function admitOperation(
  phase: RunbookPhase,
  inFlight: readonly OperationRef[],
  requested: ControllerOpKind,
): Admission {
  if (!ALLOWED_PHASES[requested].includes(phase)) {
    return {
      ok: false,
      code: 'STATE',
      message: `a ${requested} cannot start while the runbook is ${phase}`,
      hint: `${requested} is allowed when the runbook is ${ALLOWED_PHASES[requested].join(' or ')}`,
    };
  }
  const preempt: OperationRef[] = [];
  for (const running of inFlight) {
    if (COMPATIBLE[running.kind][requested]) continue;
    if (PREEMPTS[requested]?.includes(running.kind)) {
      preempt.push(running);
      continue;
    }
    return {
      ok: false,
      code: 'CONFLICT',
      message: `${running.kind} ${running.id} is in flight; a ${requested} cannot start beside it`,
      hint: `wait for ${running.id} to finish or cancel it`,
      conflictsWith: running,
    };
  }
  return { ok: true, preempt };
}
