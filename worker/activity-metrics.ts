import type { Context as ActivityContext } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { LifeboatMetrics } from './metrics.ts';

/** Counts, times and logs every activity this worker runs, labelled with its type and queue. */
export function activityObservability(metrics: LifeboatMetrics, logger: Logger): ActivityInterceptorsFactory {
  return (ctx: ActivityContext) => ({
    inbound: {
      async execute(input, next) {
        const { activityType, taskQueue, workflowExecution, attempt } = ctx.info;
        const labels = { activity: activityType, queue: taskQueue };
        const log = logger.child({
          activity: activityType,
          workflowId: workflowExecution?.workflowId,
          attempt,
        });
        metrics.activitiesStarted.inc(labels);
        metrics.activitiesInFlight.inc({ queue: taskQueue });
        const stop = metrics.activityDuration.startTimer(labels);
        log.info('activity started');
        try {
          const result = await next(input);
          metrics.activitiesFinished.inc({ ...labels, outcome: 'completed' });
          log.info('activity completed');
          return result;
        } catch (err) {
          const outcome = err instanceof CancelledFailure ? 'cancelled' : 'failed';
          metrics.activitiesFinished.inc({ ...labels, outcome });
          log.warn({ err, outcome }, 'activity did not complete');
          throw err;
        } finally {
          stop();
          metrics.activitiesInFlight.dec({ queue: taskQueue });
        }
      },
    },
  });
}
