import { type ActivityOptions, proxyActivities } from '@temporalio/workflow';
import { siteTaskQueue } from '../platform/names.ts';

/**
 * How long a site activity may wait for its site's worker to pick it up. A dead or cut-off site
 * then fails the activity with a schedule-to-start timeout instead of leaving it queued forever.
 */
export const SITE_SCHEDULE_TO_START_MS = 30_000;

/**
 * Activities of type T, routed to the worker of one site (queue `site-<name>`). Only that site's
 * worker registers site activities, so they never run anywhere else.
 */
export function proxySiteActivities<T extends object>(
  siteName: string,
  options: Partial<ActivityOptions> = {},
): T {
  // proxyActivities' constraint is `ActivityInterfaceFor<T>`; our callers pass interfaces of
  // async functions, so the cast only widens what the SDK already checks at call sites.
  return proxyActivities({
    startToCloseTimeout: '5 minutes',
    scheduleToStartTimeout: SITE_SCHEDULE_TO_START_MS,
    retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2 },
    ...options,
    taskQueue: siteTaskQueue(siteName),
  }) as T;
}
