/**
 * Checks a reprotect's input (a child of the runbook's controller) before it moves any data.
 * Pure, so it is unit-tested directly.
 */
import {
  controllerChildProblems,
  isObject,
  operationIdOf,
  planProblems,
  planRunbook,
} from './input-checks.ts';

export function validateReprotectInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const { id, plan, controllerId, requestedBy } = input;
  const { parts, problems: errors } = operationIdOf('id', id, ['reprotect']);
  const runbook = planRunbook(plan);
  if (runbook !== undefined) {
    if (parts && parts.runbook !== runbook)
      errors.push(`id ${String(id)} is not an id of runbook ${runbook}`);
    errors.push(...controllerChildProblems(runbook, controllerId, parentId));
  }
  errors.push(...planProblems(plan));
  if (requestedBy !== undefined && typeof requestedBy !== 'string')
    errors.push('requestedBy is not a string');
  return errors;
}
