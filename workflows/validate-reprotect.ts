/**
 * Checks a reprotect's input (a child of the runbook's controller) before it moves any data.
 * Pure, so it is unit-tested directly.
 */
import { controllerOperationProblems, isObject } from './input-checks.ts';

export function validateReprotectInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const errors = controllerOperationProblems(input, ['reprotect'], parentId);
  if (input.requestedBy !== undefined && typeof input.requestedBy !== 'string')
    errors.push('requestedBy is not a string');
  return errors;
}
