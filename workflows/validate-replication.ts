/**
 * Checks the input of a replication cycle (a child of the runbook's controller) and of its
 * per-VM children, before they move any data. Pure (no workflow APIs) so it is unit-tested
 * directly.
 */
import type { Consistency } from '../runbooks/plan.ts';
import {
  controllerOperationProblems,
  isName,
  isObject,
  missingNames,
  oneOfProblems,
  operationChildProblems,
} from './input-checks.ts';

const CONSISTENCIES: readonly Consistency[] = ['crash', 'application'];
const REPLICATION = ['replication'];

/** Problems with a replication cycle's input, empty when it may run. */
export function validateReplicationCycleInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const { plan, options } = input;
  const errors = controllerOperationProblems(input, REPLICATION, parentId);
  if (isObject(plan)) {
    const replication = isObject(plan.replication) ? plan.replication : {};
    errors.push(...oneOfProblems('plan.replication.consistency', replication.consistency, CONSISTENCIES));
  }
  if (options === undefined) return errors;
  if (!isObject(options)) return [...errors, 'options is not an object'];
  // Not required positive: the cycle raises a cap below 1 to 1, as it always has.
  const cap = options.maxConcurrentTransfers;
  if (cap !== undefined && !Number.isFinite(cap))
    errors.push('options.maxConcurrentTransfers is not a number');
  if (options.vms !== undefined && !(Array.isArray(options.vms) && options.vms.every(isName))) {
    errors.push('options.vms is not a list of VM names');
  }
  return errors;
}

/** Problems with one VM's part of a cycle, empty when it may run. */
export function validateReplicationVmInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const { cycleId, runbook } = input;
  const cycle = operationChildProblems('cycleId', cycleId, REPLICATION, parentId, 'its replication cycle');
  const errors = cycle.problems;
  if (cycle.parts && cycle.parts.runbook !== runbook) {
    errors.push(`runbook ${String(runbook)} is not the runbook of ${String(cycleId)}`);
  }
  errors.push(...missingNames(input, ['group', 'vm', 'domain', 'pointId', 'primarySite', 'secondarySite']));
  errors.push(...oneOfProblems('consistency', input.consistency, CONSISTENCIES));
  const commands = input.dataCommands;
  const argv = (c: unknown) => Array.isArray(c) && c.length > 0 && c.every((a) => typeof a === 'string');
  if (commands !== undefined && !(Array.isArray(commands) && commands.every(argv))) {
    errors.push('dataCommands is not a list of argument lists');
  }
  return errors;
}
