/**
 * Orchestrator activities behind the protection Schedules (workflows/protection.ts) and the
 * pause a failover puts on them. They use the worker's own client (`Context.current().client`).
 */
import { Context } from '@temporalio/activity';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RequestRefusedError, runbookState, startOperation } from '../cli/runbook-client.ts';
import {
  setProtectionPaused as pauseSchedules,
  startReverseProtection as startReverse,
  stopReverseProtection as stopReverse,
} from '../platform/protection.ts';
import type { Plan } from '../runbooks/plan.ts';

export interface RequestOperationInput {
  plan: Plan;
  kind: 'replication' | 'drill' | 'reprotect';
  taskQueue: string;
  requestedBy?: string;
}

export type RequestOperationResult =
  | { admitted: true; id: string }
  | { admitted: false; code: string; message: string };

/** What the orchestrator knows of each protected runbook, for the alert rules (deploy/prometheus/rules/). */
export interface ProtectionMetrics {
  rpoObjective: Gauge<'runbook'>;
  drillInterval: Gauge<'runbook'>;
  drillLastEnded: Gauge<'runbook'>;
  drillLastPassed: Gauge<'runbook'>;
  runs: Counter<'runbook' | 'kind' | 'outcome'>;
}

export function createProtectionMetrics(): ProtectionMetrics & { register(r: Registry): void } {
  const m: ProtectionMetrics = {
    rpoObjective: new Gauge({
      name: 'lifeboat_rpo_objective_seconds',
      help: 'The runbook’s objectives.rpo, as its protection Schedule last ran it',
      labelNames: ['runbook'],
      registers: [],
    }),
    drillInterval: new Gauge({
      name: 'lifeboat_drill_interval_seconds',
      help: 'The runbook’s drill.every, as its drill Schedule last ran it',
      labelNames: ['runbook'],
      registers: [],
    }),
    drillLastEnded: new Gauge({
      name: 'lifeboat_drill_last_ended_timestamp_seconds',
      help: 'When the runbook’s last scheduled drill ended (Unix time)',
      labelNames: ['runbook'],
      registers: [],
    }),
    drillLastPassed: new Gauge({
      name: 'lifeboat_drill_last_passed',
      help: '1 when the runbook’s last scheduled drill succeeded, 0 when it did not',
      labelNames: ['runbook'],
      registers: [],
    }),
    runs: new Counter({
      name: 'lifeboat_protection_runs_total',
      help: 'Scheduled replication cycles, drills, retention and scrubs by outcome (refused: the controller said no; site-absent: the secondary worker did not take the work)',
      labelNames: ['runbook', 'kind', 'outcome'],
      registers: [],
    }),
  };
  return {
    ...m,
    register(r) {
      for (const metric of Object.values(m)) r.registerMetric(metric);
    },
  };
}

export function createProtectionActivities(
  deps: {
    metrics?: ProtectionMetrics;
    /** How long a request waits for the controller's answer (its start-to-close timeout is 1 min). */
    requestPatienceMs?: number;
  } = {},
) {
  const metrics = deps.metrics;
  const patienceMs = deps.requestPatienceMs ?? 50_000;
  return {
    /** Asks the controller for the operation; its refusal is a result, not a failure. */
    async requestOperation(input: RequestOperationInput): Promise<RequestOperationResult> {
      const ctx = Context.current();
      const runbook = input.plan.runbook.name;
      metrics?.rpoObjective.set({ runbook }, input.plan.objectives.rpoMs / 1000);
      if (input.plan.drill?.everyMs) metrics?.drillInterval.set({ runbook }, input.plan.drill.everyMs / 1000);
      // The controller answers on a workflow task, often of this very worker. The worker does not
      // notice the server's start-to-close timeout of an activity that does not heartbeat, and its
      // client ignores abort signals, so an answer that never comes (the controller's worker gone
      // or shutting down) would hold this attempt, and the worker's shutdown, forever. The request
      // has a deadline a little before that timeout, and the attempt ends at once when cancelled.
      const deadline = Date.now() + patienceMs;
      const request = ctx.client.withDeadline(deadline, () =>
        startOperation(ctx.client, {
          kind: input.kind,
          plan: input.plan,
          taskQueue: input.taskQueue,
          ...(input.kind === 'drill' && input.requestedBy ? { requestedBy: input.requestedBy } : {}),
        }),
      );
      // Settled even when cancellation wins the race (it ends at its deadline).
      request.catch(() => {});
      try {
        const r = await Promise.race([request, ctx.cancelled]);
        return { admitted: true, id: r.id };
      } catch (err) {
        // startOperation already asked the controller to free a slot held by a closed operation.
        if (!(err instanceof RequestRefusedError)) {
          if (ctx.cancellationSignal.aborted || Date.now() < deadline) throw err;
          throw new Error(
            `the controller of ${runbook} did not answer the ${input.kind} request within ${patienceMs / 1000} s`,
          );
        }
        metrics?.runs.inc({ runbook, kind: input.kind, outcome: 'refused' });
        return { admitted: false, code: err.code, message: err.message };
      }
    },

    /** Waits for the operation to end (heartbeating); its outcome, `failed` when it failed. */
    async awaitOperation(input: {
      id: string;
      runbook?: string;
      kind?: 'replication' | 'drill' | 'reprotect';
    }): Promise<{ outcome: string }> {
      const ctx = Context.current();
      const timer = setInterval(() => ctx.heartbeat(), 5_000);
      let outcome: string;
      try {
        const result = (await Promise.race([
          ctx.client.workflow.getHandle(input.id).result(),
          ctx.cancelled,
        ])) as { outcome?: string; verdict?: string } | undefined;
        outcome = result?.outcome ?? 'succeeded';
        if (input.kind === 'drill' && result?.verdict === 'fail') outcome = 'failed';
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        const name = (err as { cause?: { name?: string } }).cause?.name;
        outcome = name === 'CancelledFailure' ? 'cancelled' : 'failed';
      } finally {
        clearInterval(timer);
      }
      if (metrics && input.runbook && input.kind) {
        const runbook = input.runbook;
        metrics.runs.inc({ runbook, kind: input.kind, outcome });
        if (input.kind === 'drill') {
          metrics.drillLastEnded.set({ runbook }, Date.now() / 1000);
          metrics.drillLastPassed.set({ runbook }, outcome === 'succeeded' ? 1 : 0);
        }
      }
      return { outcome };
    },

    /**
     * The points the runbook's operations hold now (operation id -> point ids), read from its
     * controller just before retention runs: retention never touches them.
     */
    async heldPoints(input: { runbook: string }): Promise<Record<string, string[]>> {
      return (await runbookState(Context.current().client, input.runbook)).heldPoints;
    },

    /** Records what the retention and scrub steps of a scheduled run found (metrics only). */
    async recordUpkeep(input: {
      runbook: string;
      kind: 'retention' | 'scrub';
      outcome: 'ok' | 'failed' | 'site-absent';
    }): Promise<void> {
      metrics?.runs.inc({ runbook: input.runbook, kind: input.kind, outcome: input.outcome });
    },

    /**
     * Pauses or resumes the runbook's protection Schedules (for a failover: pause when it
     * starts, resume after a rollback or a failback). Idempotent: returns the Schedules it changed.
     */
    async setProtectionPaused(input: {
      runbook: string;
      paused: boolean;
      reason: string;
      /** A resume lifts only the pauses this operation id (or prefix) made; an operator's stay. */
      onlyIfPausedBy?: string;
    }): Promise<string[]> {
      return pauseSchedules(
        Context.current().client,
        input.runbook,
        input.paused,
        input.reason,
        input.onlyIfPausedBy === undefined ? {} : { onlyIfPausedBy: input.onlyIfPausedBy },
      );
    },

    /**
     * After a reprotect: the runbook's reverse Schedule (reverse cycles every replication.every
     * until failback), when the runbook is protected; the id, or why there is none.
     */
    async startReverseProtection(input: {
      plan: Plan;
      taskQueue: string;
      note: string;
    }): Promise<{ id?: string; action?: 'created' | 'kept'; why?: string }> {
      return startReverse(Context.current().client, input.plan, {
        taskQueue: input.taskQueue,
        note: input.note,
      });
    },

    /** Failback: the reverse cycles end (production is home again); true when there was a Schedule. */
    async stopReverseProtection(input: { runbook: string }): Promise<boolean> {
      return stopReverse(Context.current().client, input.runbook);
    },
  };
}

export type ProtectionActivities = ReturnType<typeof createProtectionActivities>;
