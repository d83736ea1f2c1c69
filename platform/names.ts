import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

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

/** The id the controller gives the `n`th operation of a kind (drill, failover, replication, ...). */
export function operationWorkflowId(runbookName: string, kind: string, n: number): string {
  return `${controllerWorkflowId(runbookName)}/${kind}/${n}`;
}

export interface OperationWorkflowIdParts {
  runbook: string;
  kind: string;
  n: number;
}

/** The parts of an operation's workflow id, or undefined when `id` is not one. */
export function parseOperationWorkflowId(id: string): OperationWorkflowIdParts | undefined {
  // Runbook names are safe names (runbooks/names.ts), so they contain no '/'.
  const m = /^runbook\/([^/]+)\/([a-z]+)\/([1-9]\d*)$/.exec(id);
  if (!m) return undefined;
  return { runbook: m[1] as string, kind: m[2] as string, n: Number(m[3]) };
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
  /** On protection runs: `breach` when a VM of the runbook was over its RPO objective at the run's end, else `within`. */
  rpo: 'LifeboatRpo',
} as const;

/** Typed keys for the search attributes above (for `typedSearchAttributes` in workflows and clients). */
export const SEARCH_ATTRIBUTE_KEYS = {
  runbook: defineSearchAttributeKey(SEARCH_ATTRIBUTES.runbook, SearchAttributeType.KEYWORD),
  operation: defineSearchAttributeKey(SEARCH_ATTRIBUTES.operation, SearchAttributeType.KEYWORD),
  site: defineSearchAttributeKey(SEARCH_ATTRIBUTES.site, SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey(SEARCH_ATTRIBUTES.state, SearchAttributeType.KEYWORD),
  rpo: defineSearchAttributeKey(SEARCH_ATTRIBUTES.rpo, SearchAttributeType.KEYWORD),
} as const;

/**
 * The query an operation workflow exposes for its progress (workflows/messages.ts defines it with
 * this name); `lifeboat status` shows the answer and tolerates workflows without it.
 */
export const PROGRESS_QUERY_NAME = 'lifeboat.progress';
