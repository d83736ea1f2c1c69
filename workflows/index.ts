/**
 * Every workflow type the orchestrator worker registers (and the replay harness checks). Each
 * checks its input first (workflows/guard.ts) and, but for the read-only inventory, refuses to
 * run unless started by its one legitimate parent:
 * - `runbookController`: one per runbook (`runbook/<name>`), state and admission.
 * - `operationWorkflow`: the Plan interpreter for one drill, failover or failback; a child of the controller.
 * - `groupWorkflow`: one group of a large Plan; a child of its operation.
 * - `compensationWorkflow`: one chunk of a large rollback; a child of its operation.
 * - `replicationCycleWorkflow`: one replication cycle; a child of the controller.
 * - `replicationVmWorkflow`: one VM's part of a cycle; a child of its cycle.
 * - `divergentBlocksWorkflow`: lists or discards (with a reason) an old primary's divergent blocks; started by the CLI.
 * - `reprotectWorkflow`: ships the delta that makes the old primary equal to the active site; a child of the controller.
 * - `protectionRunWorkflow`: one action of a runbook's protection Schedule (no parent).
 * - `siteInventoryWorkflow`: the sites' inventories for `--live` checks, started by the CLI.
 * - `fenceSiteWorkflow`: a disaster failover's fence, enforced by the fenced site's worker; a child of the failover.
 * - `unfenceWorkflow`: an operator's signed `lifeboat unfence` (no parent; the signature decides).
 */
export { compensationWorkflow } from './compensate.ts';
export { runbookController } from './controller.ts';
export { divergentBlocksWorkflow } from './divergent.ts';
export { fenceSiteWorkflow, unfenceWorkflow } from './fence.ts';
export { groupWorkflow } from './group.ts';
export { operationWorkflow } from './interpreter.ts';
export { siteInventoryWorkflow } from './inventory.ts';
export { protectionRunWorkflow } from './protection.ts';
export { replicationCycleWorkflow, replicationVmWorkflow } from './replication.ts';
export { reprotectWorkflow } from './reprotect.ts';
