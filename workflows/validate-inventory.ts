/**
 * Checks the input of a live check's inventory read (workflows/inventory.ts). The workflow only
 * reads, so any client may start it; its input still must not crash the workflow task.
 * Pure (no workflow APIs) so it is unit-tested directly.
 */
import { isName, isObject, oneOfProblems } from './input-checks.ts';

const ROLES = ['primary', 'secondary'];

function isStringList(v: unknown): boolean {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Problems with the input, empty when it may run. */
export function validateSiteInventoryInput(input: unknown): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const errors: string[] = [];
  const { sites, scheduleToStartMs } = input;
  if (
    scheduleToStartMs !== undefined &&
    !(Number.isFinite(scheduleToStartMs) && (scheduleToStartMs as number) > 0)
  ) {
    errors.push(`scheduleToStartMs ${String(scheduleToStartMs)} is not a positive number`);
  }
  if (!Array.isArray(sites)) return [...errors, 'sites is not a list'];
  sites.forEach((s, i) => {
    const at = `sites[${i}]`;
    if (!isObject(s)) {
      errors.push(`${at} is not an object`);
      return;
    }
    errors.push(...oneOfProblems(`${at}.role`, s.role, ROLES));
    if (!isName(s.site)) errors.push(`${at}.site is missing`);
    const r = s.request;
    if (!isObject(r) || !isStringList(r.vms) || !isStringList(r.storage) || typeof r.host !== 'boolean') {
      errors.push(`${at}.request needs vms, storage (lists of names) and host (true or false)`);
    }
  });
  return errors;
}
