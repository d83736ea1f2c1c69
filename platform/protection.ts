/**
 * Protection that runs itself: one Temporal Schedule per runbook and kind
 * (`protect/<runbook>/replication` every `replication.every`, `protect/<runbook>/drill` every
 * `drill.every`), each starting `protectionRunWorkflow` with the runbook's Plan. Overlap is
 * BUFFER_ONE: a run still going skips the next action but keeps one, so an `every` shorter than a
 * cycle is never stacked. Protecting again updates the Schedules in place; pausing is what a
 * failover does while it owns the runbook (`pauseProtection`, also the `setProtectionPaused`
 * activity).
 */
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
} from '@temporalio/client';
import type { Plan } from '../runbooks/plan.ts';
import { ORCHESTRATOR_TASK_QUEUE } from './names.ts';

/**
 * `reverse`: after a reprotect, the reverse cycles (a reprotect each) from the active secondary
 * toward the old primary, every `replication.every`, until failback or unprotect.
 */
export type ProtectionKind = 'replication' | 'drill' | 'scrub' | 'reverse';

/**
 * How often the whole-chain scrub of every VM runs at the secondary. The runbook language has no
 * field for it: a day reads each point's files once a day, cheap against hourly-to-minutely cycles.
 */
export const SCRUB_EVERY_MS = 24 * 3_600_000;

export function protectionScheduleId(runbook: string, kind: ProtectionKind): string {
  return `protect/${runbook}/${kind}`;
}

/** The workflow id prefix of the runs a Schedule starts (Temporal appends the scheduled time). */
export function protectionRunWorkflowId(runbook: string, kind: ProtectionKind): string {
  return `protect/${runbook}/${kind}/run`;
}

/**
 * What protecting this Plan schedules: `replication.every` always, `drill.every` when set, the
 * scrub every `scrubEveryMs` (SCRUB_EVERY_MS unless told).
 */
export function protectionIntervals(
  plan: Plan,
  scrubEveryMs = SCRUB_EVERY_MS,
): Array<{ kind: ProtectionKind; everyMs: number }> {
  const out: Array<{ kind: ProtectionKind; everyMs: number }> = [
    { kind: 'replication', everyMs: plan.replication.everyMs },
  ];
  if (plan.drill?.everyMs) out.push({ kind: 'drill', everyMs: plan.drill.everyMs });
  out.push({ kind: 'scrub', everyMs: scrubEveryMs });
  return out;
}

export interface ProtectResult {
  runbook: string;
  schedules: Array<{ id: string; kind: ProtectionKind; everyMs: number; action: 'created' | 'updated' }>;
  removed: string[];
}

function scheduleOptions(plan: Plan, kind: ProtectionKind, everyMs: number, taskQueue: string) {
  const runbook = plan.runbook.name;
  return {
    spec: { intervals: [{ every: everyMs }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'protectionRunWorkflow',
      workflowId: protectionRunWorkflowId(runbook, kind),
      taskQueue,
      args: [{ runbook, kind, plan }],
    },
    policies: {
      overlap: ScheduleOverlapPolicy.BUFFER_ONE,
      // A server outage longer than one interval does not replay every missed action.
      catchupWindow: Math.max(everyMs, 60_000),
      pauseOnFailure: false,
    },
  };
}

/** Creates or updates (in place, keeping a pause) the runbook's Schedules; drops a drill one no longer asked for. */
export async function protectRunbook(
  client: Client,
  plan: Plan,
  opts: { taskQueue?: string; scrubEveryMs?: number } = {},
): Promise<ProtectResult> {
  const runbook = plan.runbook.name;
  const taskQueue = opts.taskQueue ?? ORCHESTRATOR_TASK_QUEUE;
  const result: ProtectResult = { runbook, schedules: [], removed: [] };
  const wanted = protectionIntervals(plan, opts.scrubEveryMs);
  for (const { kind, everyMs } of wanted) {
    const scheduleId = protectionScheduleId(runbook, kind);
    const options = scheduleOptions(plan, kind, everyMs, taskQueue);
    let action: 'created' | 'updated' = 'created';
    try {
      await client.schedule.create({
        scheduleId,
        ...options,
        memo: { runbook, planHash: plan.hash },
        state: { note: `protected (plan ${plan.hash.slice(0, 12)})` },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      action = 'updated';
      await client.schedule.getHandle(scheduleId).update((prev) => ({
        ...prev,
        spec: options.spec,
        action: options.action,
        policies: options.policies,
        state: prev.state,
      }));
    }
    result.schedules.push({ id: scheduleId, kind, everyMs, action });
  }
  if (!wanted.some((w) => w.kind === 'drill')) {
    if (await deleteSchedule(client, protectionScheduleId(runbook, 'drill'))) {
      result.removed.push(protectionScheduleId(runbook, 'drill'));
    }
  }
  return result;
}

async function deleteSchedule(client: Client, id: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(id).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/** Removes the runbook's Schedules; the ids removed (none when it was not protected). */
export async function unprotectRunbook(client: Client, runbook: string): Promise<string[]> {
  const removed: string[] = [];
  for (const kind of ['replication', 'drill', 'scrub', 'reverse'] as const) {
    const id = protectionScheduleId(runbook, kind);
    if (await deleteSchedule(client, id)) removed.push(id);
  }
  return removed;
}

/**
 * After a reprotect: the reverse Schedule (`protect/<runbook>/reverse`, every
 * `replication.every`), which asks the controller for a reprotect each time, so protection runs
 * from the active secondary toward the old primary until failback. Only for a protected runbook
 * (its forward replication Schedule exists, paused by the failover); one already there is left
 * as it is (an operator's pause included).
 */
export async function startReverseProtection(
  client: Client,
  plan: Plan,
  opts: { taskQueue?: string; note: string },
): Promise<{ id: string; action: 'created' | 'kept' } | { id?: undefined; why: string }> {
  const runbook = plan.runbook.name;
  try {
    await client.schedule.getHandle(protectionScheduleId(runbook, 'replication')).describe();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    return {
      why: `${runbook} is not protected (no ${protectionScheduleId(runbook, 'replication')} Schedule)`,
    };
  }
  const id = protectionScheduleId(runbook, 'reverse');
  const options = scheduleOptions(
    plan,
    'reverse',
    plan.replication.everyMs,
    opts.taskQueue ?? ORCHESTRATOR_TASK_QUEUE,
  );
  try {
    await client.schedule.create({
      scheduleId: id,
      ...options,
      memo: { runbook, planHash: plan.hash },
      state: { note: opts.note },
    });
    return { id, action: 'created' };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return { id, action: 'kept' };
  }
}

/** Removes the reverse Schedule (failback); true when there was one. */
export function stopReverseProtection(client: Client, runbook: string): Promise<boolean> {
  return deleteSchedule(client, protectionScheduleId(runbook, 'reverse'));
}

/**
 * Runs the replication Schedule's action now (one buffered if a cycle is running); false when
 * the runbook is not protected, so the caller asks the controller directly.
 */
export async function triggerProtection(
  client: Client,
  runbook: string,
  kind: ProtectionKind,
): Promise<boolean> {
  try {
    await client.schedule
      .getHandle(protectionScheduleId(runbook, kind))
      .trigger(ScheduleOverlapPolicy.BUFFER_ONE);
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/**
 * A Lifeboat operation pauses with the note `paused by <operation id>: why` (workflows/failover.ts).
 * May a resume asked for by `by` (an operation id, or a prefix such as
 * `runbook/<name>/failover/`) lift this pause? Only when the pause's note says an operation it
 * names paused it: a Schedule an operator paused (any other note) stays paused. Pure.
 */
export function pausedBy(note: string | undefined, by: string): boolean {
  return note?.startsWith(by.endsWith('/') ? `paused by ${by}` : `paused by ${by}:`) === true;
}

/**
 * Pauses or resumes every Schedule of the runbook with a note saying why (a failover pauses on
 * start and resumes after a rollback or a failback). With `onlyIfPausedBy`, a resume lifts only the
 * pauses that operation (or id prefix) made (`pausedBy`). Returns the ids it changed; idempotent.
 */
export async function setProtectionPaused(
  client: Client,
  runbook: string,
  paused: boolean,
  reason: string,
  opts: { onlyIfPausedBy?: string } = {},
): Promise<string[]> {
  const changed: string[] = [];
  for (const kind of ['replication', 'drill'] as const) {
    const handle = client.schedule.getHandle(protectionScheduleId(runbook, kind));
    try {
      const d = await handle.describe();
      if (d.state.paused === paused) continue;
      if (!paused && opts.onlyIfPausedBy !== undefined && !pausedBy(d.state.note, opts.onlyIfPausedBy))
        continue;
      if (paused) await handle.pause(reason);
      else await handle.unpause(reason);
      changed.push(handle.scheduleId);
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return changed;
}

export interface ProtectionView {
  runbook: string;
  protected: boolean;
  paused: boolean;
  note?: string;
  replication?: {
    everyMs: number;
    nextAt?: string;
    lastAt?: string;
    /** Actions skipped because a run was still going: an `every` shorter than a cycle takes. */
    skippedOverlap?: number;
    /** When the run still going started (one at most: overlap skips, one buffered). */
    runningSince?: string;
  };
  /** The Plan's objectives.rpo, as the Schedule runs it. */
  rpoObjectiveMs?: number;
  drill?: { everyMs: number; nextAt?: string; lastAt?: string; paused?: boolean; note?: string };
  scrub?: { everyMs: number; nextAt?: string; lastAt?: string; paused?: boolean; note?: string };
  /** Reverse cycles after a reprotect (protection from the active secondary toward the old primary). */
  reverse?: { everyMs: number; nextAt?: string; lastAt?: string; paused?: boolean; note?: string };
  /** When the replication Schedule was created: a drill is overdue from here when none ran. */
  since?: string;
}

type ProtectionArgs = Array<{ plan?: { objectives?: { rpoMs?: number } } } | undefined>;

/** The runbooks with a protection Schedule on this server. */
export async function protectedRunbooks(client: Client): Promise<string[]> {
  const out = new Set<string>();
  for await (const s of client.schedule.list()) {
    const m = /^protect\/(.+)\/replication$/.exec(s.scheduleId);
    if (m?.[1]) out.add(m[1]);
  }
  return [...out].sort();
}

/** What `status` shows about the runbook's Schedules. */
export async function describeProtection(client: Client, runbook: string): Promise<ProtectionView> {
  const view: ProtectionView = { runbook, protected: false, paused: false };
  for (const kind of ['replication', 'drill', 'scrub', 'reverse'] as const) {
    try {
      const d = await client.schedule.getHandle(protectionScheduleId(runbook, kind)).describe();
      const every = d.spec.intervals?.[0]?.every;
      const everyMs = typeof every === 'number' ? every : Number(every ?? 0);
      const next = d.info.nextActionTimes[0];
      const last = d.info.recentActions.at(-1)?.takenAt;
      view[kind] = {
        everyMs,
        ...(next ? { nextAt: next.toISOString() } : {}),
        ...(last ? { lastAt: last.toISOString() } : {}),
        ...(kind !== 'replication' && d.state.paused
          ? { paused: true, ...(d.state.note ? { note: d.state.note } : {}) }
          : {}),
      };
      if (kind === 'replication') {
        const running = d.info.runningActions[0];
        const since = running
          ? d.info.recentActions.find((a) => a.action.workflow.workflowId === running.workflow.workflowId)
              ?.takenAt
          : undefined;
        view.replication = {
          ...view.replication!,
          ...(d.info.numActionsSkippedOverlap > 0 ? { skippedOverlap: d.info.numActionsSkippedOverlap } : {}),
          ...(since ? { runningSince: since.toISOString() } : {}),
        };
        view.protected = true;
        if (d.info.createdAt) view.since = d.info.createdAt.toISOString();
        const args =
          d.action.type === 'startWorkflow' ? (d.action.args as ProtectionArgs | undefined) : undefined;
        const rpoMs = args?.[0]?.plan?.objectives?.rpoMs;
        if (typeof rpoMs === 'number') view.rpoObjectiveMs = rpoMs;
        view.paused = d.state.paused;
        if (d.state.note) view.note = d.state.note;
      }
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return view;
}
