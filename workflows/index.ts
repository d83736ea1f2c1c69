/**
 * Every workflow type the orchestrator worker registers (and the replay harness checks):
 * - `runbookController`: one per runbook (`runbook/<name>`), state and admission.
 * - `operationWorkflow`: the Plan interpreter for one drill, failover or failback.
 * - `groupWorkflow`: one group of a large Plan, started by the interpreter.
 * - `compensationWorkflow`: one chunk of a large rollback.
 * - `siteInventoryWorkflow`: the sites' inventories for `--live` checks.
 */
export { compensationWorkflow } from './compensate.ts';
export { runbookController } from './controller.ts';
export { groupWorkflow } from './group.ts';
export { operationWorkflow } from './interpreter.ts';
export { siteInventoryWorkflow } from './inventory.ts';
export { replicationCycleWorkflow, replicationVmWorkflow } from './replication.ts';
