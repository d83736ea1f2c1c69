/**
 * The RPO now, from the replica store's manifests (pure): per VM the age of its newest committed
 * point that is not known corrupt, and how many of its points a scrub found failed. The breach
 * is judged against the runbook's `objectives.rpo` where the objective is known.
 */
import type { Manifest } from './manifest.ts';

export interface VmRpo {
  runbook: string;
  vm: string;
  /** Undefined when the VM has no usable committed point: it is not protected at all. */
  newestPointId?: string;
  /** When that point's data was taken (its checkpoint), ISO. */
  newestAt?: string;
  ageSeconds?: number;
  failedPoints: number;
  points: number;
}

/** `points` are one VM's committed points, any order. */
export function vmRpo(vm: string, points: readonly Manifest[], now: number): VmRpo {
  const usable = points
    .filter((p) => p.integrity.state !== 'failed')
    .sort((a, b) => (a.times.checkpointAt < b.times.checkpointAt ? -1 : 1));
  const newest = usable.at(-1);
  const runbook = newest?.runbook ?? points[0]?.runbook ?? '';
  const failedPoints = points.filter((p) => p.integrity.state === 'failed').length;
  if (!newest) return { runbook, vm, failedPoints, points: points.length };
  return {
    runbook,
    vm,
    newestPointId: newest.pointId,
    newestAt: newest.times.checkpointAt,
    ageSeconds: Math.max(0, (now - Date.parse(newest.times.checkpointAt)) / 1000),
    failedPoints,
    points: points.length,
  };
}

export interface RpoJudgement {
  breach: boolean;
  /** Seconds the RPO has been over the objective (0 when it is not): age minus objective. */
  secondsInBreach: number;
}

/**
 * A VM is in breach when its newest point is older than the objective, or it has none; the time
 * in breach is measured from the moment the point's age crossed the objective.
 */
export function judgeRpo(r: Pick<VmRpo, 'ageSeconds'>, objectiveMs: number): RpoJudgement {
  if (r.ageSeconds === undefined) return { breach: true, secondsInBreach: 0 };
  const over = r.ageSeconds - objectiveMs / 1000;
  return { breach: over > 0, secondsInBreach: Math.max(0, over) };
}
