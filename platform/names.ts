/**
 * Names shared by the CLI, the workers and the workflows. Task queues are named after sites,
 * never after roles: primary and secondary swap after a failover.
 */
export const ORCHESTRATOR_TASK_QUEUE = 'lifeboat-orchestrator';

export function siteTaskQueue(siteName: string): string {
  return `site-${siteName}`;
}

/** The runbook's controller workflow id. */
export function controllerWorkflowId(runbookName: string): string {
  return `runbook/${runbookName}`;
}

/**
 * Lifeboat's custom search attributes (all Keyword unless stated), registered idempotently on
 * the namespace at server start; `lifeboat status` lists operations through them.
 */
export const SEARCH_ATTRIBUTES = {
  runbook: 'LifeboatRunbook',
  operation: 'LifeboatOperation',
  site: 'LifeboatSite',
  state: 'LifeboatState',
} as const;
