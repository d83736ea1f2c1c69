/**
 * Which recovery points an operation restores: one committed point per VM, all from the same
 * replication cycle (point ids name their cycle), never one whose integrity is `failed`. Pure:
 * the secondary's worker lists its points and this chooses.
 */
import type { Manifest } from '../replication/manifest.ts';
export type PointSelector =
  | { kind: 'latest' }
  | { kind: 'point'; pointId: string }
  | { kind: 'time'; at: string; atMs: number };

/** Point ids are `<UTC time>-<cycle number>`, e.g. `20261204T011500Z-7`. */
const POINT_ID = /^\d{8}T\d{6}Z-\d{1,9}$/;
/** ISO 8601 with a zone, the only time form `--point` takes (no locale guessing at 3 a.m.). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export type SelectorParse =
  | { ok: true; selector: PointSelector }
  | { ok: false; message: string; hint: string };

export function parsePointSelector(value: string | undefined): SelectorParse {
  const v = value ?? 'latest';
  if (v === 'latest') return { ok: true, selector: { kind: 'latest' } };
  if (POINT_ID.test(v)) return { ok: true, selector: { kind: 'point', pointId: v } };
  if (ISO_TIME.test(v)) {
    const atMs = Date.parse(v);
    if (Number.isFinite(atMs))
      return { ok: true, selector: { kind: 'time', at: new Date(atMs).toISOString(), atMs } };
  }
  return {
    ok: false,
    message: `--point ${JSON.stringify(v.slice(0, 80))} is not latest, a point id or a time`,
    hint: 'use latest, a point id from `lifeboat points` (e.g. 20261204T011500Z-7) or an ISO time such as 2026-12-04T01:15:00Z',
  };
}

export function describeSelector(s: PointSelector): string {
  return s.kind === 'latest' ? 'latest' : s.kind === 'point' ? `point ${s.pointId}` : `at or before ${s.at}`;
}

/** What the chooser needs of a committed point. */
export interface PointCandidate {
  vm: string;
  pointId: string;
  checkpointAt: string;
  integrity: 'verified' | 'failed' | 'not-yet';
}

/** What choosing needs from a point's manifest. */
export function pointCandidate(vm: string, m: Manifest): PointCandidate {
  return { vm, pointId: m.pointId, checkpointAt: m.times.checkpointAt, integrity: m.integrity.state };
}

export type PointSetChoice<P extends PointCandidate> =
  | { ok: true; pointId: string; points: P[]; capturedAt: string }
  | {
      ok: false;
      code: 'POINT_SET_MISSING' | 'POINT_NOT_FOUND';
      message: string;
      hint: string;
      missing: string[];
    };

/**
 * The newest cycle in which every VM committed a usable point (or the one the selector names).
 * A time picks the newest such cycle whose points were all captured at or before it.
 */
export function choosePointSet<P extends PointCandidate>(
  vms: readonly string[],
  pointsByVm: ReadonlyMap<string, readonly P[]>,
  selector: PointSelector,
): PointSetChoice<P> {
  const usable = (vm: string) => (pointsByVm.get(vm) ?? []).filter((p) => p.integrity !== 'failed');
  const byCycle = new Map<string, P[]>();
  for (const vm of vms) {
    for (const p of usable(vm)) {
      const set = byCycle.get(p.pointId) ?? [];
      set.push(p);
      byCycle.set(p.pointId, set);
    }
  }
  const complete = [...byCycle.entries()]
    .filter(([, set]) => set.length === vms.length)
    .map(([pointId, set]) => ({ pointId, set, capturedAt: oldest(set) }));
  // Newest first: ids start with the cycle's UTC start time, so they sort by time.
  complete.sort((a, b) => (a.pointId < b.pointId ? 1 : a.pointId > b.pointId ? -1 : 0));

  if (selector.kind === 'point') {
    const found = complete.find((c) => c.pointId === selector.pointId);
    if (found)
      return {
        ok: true,
        pointId: found.pointId,
        points: order(vms, found.set),
        capturedAt: found.capturedAt,
      };
    const lacking = vms.filter((vm) => !usable(vm).some((p) => p.pointId === selector.pointId));
    const anyHas = vms.some((vm) => (pointsByVm.get(vm) ?? []).some((p) => p.pointId === selector.pointId));
    return {
      ok: false,
      code: 'POINT_NOT_FOUND',
      message: anyHas
        ? `point ${selector.pointId} is not usable for ${lacking.join(', ')} (missing or failed integrity)`
        : `no point ${selector.pointId} exists at the secondary`,
      hint: 'list the points with `lifeboat points <runbook>`, or use --point latest',
      missing: lacking,
    };
  }
  const eligible =
    selector.kind === 'time' ? complete.filter((c) => newestCheckpoint(c.set) <= selector.atMs) : complete;
  const chosen = eligible[0];
  if (chosen)
    return {
      ok: true,
      pointId: chosen.pointId,
      points: order(vms, chosen.set),
      capturedAt: chosen.capturedAt,
    };

  // Name the VMs that keep a complete set from existing.
  const missing = vms.filter((vm) => {
    const pts = usable(vm);
    return selector.kind === 'time'
      ? !pts.some((p) => Date.parse(p.checkpointAt) <= selector.atMs)
      : pts.length === 0;
  });
  const where = selector.kind === 'time' ? ` captured at or before ${selector.at}` : '';
  return {
    ok: false,
    code: 'POINT_SET_MISSING',
    message:
      missing.length > 0
        ? `no usable recovery point${where} for ${missing.join(', ')}`
        : `no replication cycle${where} committed a usable point for every VM (${vms.join(', ')})`,
    hint:
      selector.kind === 'time'
        ? 'pick a later time, or list the points with `lifeboat points <runbook>`'
        : 'run `lifeboat replicate <runbook> --wait` until a cycle commits every VM',
    missing,
  };
}

function oldest(set: readonly PointCandidate[]): string {
  return set.map((p) => p.checkpointAt).reduce((a, b) => (Date.parse(b) < Date.parse(a) ? b : a));
}

function newestCheckpoint(set: readonly PointCandidate[]): number {
  return Math.max(...set.map((p) => Date.parse(p.checkpointAt)));
}

function order<P extends PointCandidate>(vms: readonly string[], set: readonly P[]): P[] {
  return vms.map((vm) => set.find((p) => p.vm === vm) as P);
}
