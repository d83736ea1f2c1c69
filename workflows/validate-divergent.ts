/**
 * Checks the input of `divergentBlocksWorkflow` (started by the CLI: list, or discard with a
 * reason). Pure, so it is unit-tested directly.
 */
import { isName, isObject } from './input-checks.ts';

export function validateDivergentInput(input: unknown): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const errors: string[] = [];
  if (!isName(input.runbook)) errors.push('runbook is missing');
  if (!isName(input.site)) errors.push('site is missing');
  const d = input.discard;
  if (d !== undefined) {
    if (!isObject(d)) errors.push('discard is not an object');
    else {
      if (typeof d.reason !== 'string' || d.reason.trim() === '') errors.push('discard.reason is required');
      if (typeof d.by !== 'string' || d.by.trim() === '') errors.push('discard.by is required');
    }
  }
  return errors;
}
