/**
 * Checks the input of the workflows an operation starts as its children: a group of a large
 * Plan (workflows/group.ts) and a chunk of a large rollback (workflows/compensate.ts). Both run
 * VM actions, so they refuse to run unless their parent is the operation they name.
 * Pure (no workflow APIs) so it is unit-tested directly.
 */
import { OPERATION_KINDS } from '../runbooks/plan.ts';
import {
  groupProblems,
  isName,
  isObject,
  isPositiveInteger,
  missingNames,
  oneOfProblems,
  operationChildProblems,
  sitesProblems,
} from './input-checks.ts';
import type { VmActionName } from './types.ts';

const VM_ACTION_NAMES: readonly VmActionName[] = ['prepareVm', 'startVm', 'stopVm', 'teardownVm'];

/** Problems with a group child's input, empty when it may run. */
export function validateGroupInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const { operationId, kind } = input;
  const op = operationChildProblems('operationId', operationId, OPERATION_KINDS, parentId, 'its operation');
  const errors = op.problems;
  // Attention signals go to parentId: it must be the operation that waits for them.
  if (input.parentId !== operationId) {
    errors.push(`parentId ${String(input.parentId)} is not operationId ${String(operationId)}`);
  }
  errors.push(...oneOfProblems('kind', kind, OPERATION_KINDS));
  if (op.parts && op.parts.kind !== kind) {
    errors.push(`kind ${String(kind)} is not the kind of ${String(operationId)}`);
  }
  errors.push(...groupProblems(input.group).problems);
  errors.push(...sitesProblems(input.sites, 'sites'));
  if (!isObject(input.operators) || !isObject(input.roles)) errors.push('operators/roles missing');
  if (!isPositiveInteger(input.bootConcurrency)) {
    errors.push(`bootConcurrency ${String(input.bootConcurrency)} is not a positive integer`);
  }
  if (input.drillNetwork !== undefined && !isName(input.drillNetwork))
    errors.push('drillNetwork is not a name');
  return errors;
}

/** Problems with a rollback chunk's input, empty when it may run. */
export function validateCompensationInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const { operationId, stack } = input;
  const errors = operationChildProblems(
    'operationId',
    operationId,
    OPERATION_KINDS,
    parentId,
    'its operation',
  ).problems;
  if (!Array.isArray(stack)) return [...errors, 'stack is not a list'];
  stack.forEach((c, i) => {
    errors.push(...compensationProblems(c, `stack[${i}]`));
  });
  return errors;
}

function compensationProblems(c: unknown, at: string): string[] {
  if (!isObject(c)) return [`${at} is not an object`];
  const errors = missingNames(c, ['key', 'group', 'siteName', 'vm'], `${at}.`);
  errors.push(...oneOfProblems(`${at}.action`, c.action, VM_ACTION_NAMES));
  if (c.network !== undefined && !isName(c.network)) errors.push(`${at}.network is not a name`);
  return errors;
}
