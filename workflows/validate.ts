/**
 * Checks an operation's input before the interpreter touches it. Bad input must fail the
 * workflow with a non-retryable error, never throw a TypeError into a workflow-task retry loop.
 * Pure (no workflow APIs) so it is unit-tested directly.
 */
import { OPERATION_KINDS } from '../runbooks/plan.ts';
import {
  controllerChildProblems,
  isName,
  isObject,
  oneOfProblems,
  planProblems,
  planRunbook,
} from './input-checks.ts';

/** Problems with the input, empty when it may run. `parentId` is the workflow that started it. */
export function validateOperationInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const errors: string[] = [];
  const { id, kind, plan, controllerId, options } = input;
  if (!isName(id)) errors.push('id is missing');
  errors.push(...oneOfProblems('kind', kind, OPERATION_KINDS));
  const runbook = planRunbook(plan);
  if (runbook !== undefined) errors.push(...controllerChildProblems(runbook, controllerId, parentId));
  if (isObject(options) && options.mode !== undefined) {
    errors.push(...oneOfProblems('options.mode', options.mode, ['planned', 'disaster']));
  }
  return [...errors, ...planProblems(plan)];
}
