/**
 * Checks an operation's input before the interpreter touches it. Bad input must fail the
 * workflow with a non-retryable error, never throw a TypeError into a workflow-task retry loop.
 * Pure (no workflow APIs) so it is unit-tested directly.
 */
import { controllerWorkflowId } from '../platform/names.ts';
import { verifyPlanHash } from '../runbooks/hash.ts';
import { OPERATION_KINDS, PLAN_VERSION, type Plan } from '../runbooks/plan.ts';

const STEP_KINDS = new Set(['approval', 'run', 'wait']);
const CHECK_KINDS = new Set(['agent', 'tcp', 'http', 'serial', 'data']);
const ON_FAILURE = new Set(['rollback', 'pause', 'continue']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Problems with the input, empty when it may run. `parentId` is the workflow that started it. */
export function validateOperationInput(input: unknown, parentId: string | undefined): string[] {
  if (!isObject(input)) return ['input is not an object'];
  const errors: string[] = [];
  const { id, kind, plan, controllerId } = input;
  if (typeof id !== 'string' || id === '') errors.push('id is missing');
  if (typeof kind !== 'string' || !(OPERATION_KINDS as readonly string[]).includes(kind)) {
    errors.push(`kind ${String(kind)} is not one of ${OPERATION_KINDS.join(', ')}`);
  }
  if (!isObject(plan)) return [...errors, 'plan is missing'];
  if (plan.version !== PLAN_VERSION)
    errors.push(`plan version ${String(plan.version)} is not ${PLAN_VERSION}`);
  const runbook = isObject(plan.runbook) ? plan.runbook.name : undefined;
  if (typeof runbook !== 'string') return [...errors, 'plan.runbook.name is missing'];
  const expected = controllerWorkflowId(runbook);
  if (controllerId !== expected) errors.push(`controllerId ${String(controllerId)} is not ${expected}`);
  // Operations start only through the runbook's controller, so a hand-started workflow id
  // cannot slip past its admission checks.
  if (parentId !== expected)
    errors.push(`started by ${parentId ?? 'a client'}, not by the controller ${expected}`);
  const sites = plan.sites;
  if (!isObject(sites) || !isObject(sites.primary) || !isObject(sites.secondary)) {
    return [...errors, 'plan.sites needs primary and secondary'];
  }
  for (const role of ['primary', 'secondary'] as const) {
    const s = sites[role] as Record<string, unknown>;
    if (typeof s.name !== 'string' || s.name === '') errors.push(`plan.sites.${role}.name is missing`);
    if (!isObject(s.networks)) errors.push(`plan.sites.${role}.networks is missing`);
  }
  if (!Array.isArray(plan.groups) || !Array.isArray(plan.waves))
    return [...errors, 'plan.groups/waves missing'];
  if (!isObject(plan.operators) || !isObject(plan.roles)) errors.push('plan.operators/roles missing');
  const names = new Set<string>();
  for (const g of plan.groups as unknown[]) {
    if (!isObject(g) || typeof g.name !== 'string') {
      errors.push('a group has no name');
      continue;
    }
    if (names.has(g.name)) errors.push(`group ${g.name} appears twice`);
    names.add(g.name);
    if (!Array.isArray(g.vms) || !g.vms.every((v) => isObject(v) && typeof v.name === 'string')) {
      errors.push(`group ${g.name}: vms malformed`);
    }
    if (typeof g.onFailure !== 'string' || !ON_FAILURE.has(g.onFailure)) {
      errors.push(`group ${g.name}: onFailure ${String(g.onFailure)} unknown`);
    }
    for (const phase of ['before', 'after'] as const) {
      const steps = g[phase];
      if (!Array.isArray(steps)) {
        errors.push(`group ${g.name}: ${phase} malformed`);
        continue;
      }
      for (const s of steps) {
        if (!isObject(s) || typeof s.kind !== 'string' || !STEP_KINDS.has(s.kind) || !Array.isArray(s.in)) {
          errors.push(`group ${g.name}: a ${phase} step is malformed`);
        }
      }
    }
    if (!Array.isArray(g.checks) || !g.checks.every((c) => isObject(c) && CHECK_KINDS.has(String(c.kind)))) {
      errors.push(`group ${g.name}: checks malformed`);
    }
  }
  const seen = new Set<string>();
  for (const wave of plan.waves as unknown[]) {
    if (!Array.isArray(wave)) {
      errors.push('a wave is not a list');
      continue;
    }
    for (const n of wave) {
      if (typeof n !== 'string' || !names.has(n)) errors.push(`wave names unknown group ${String(n)}`);
      else if (seen.has(n)) errors.push(`group ${n} is in two waves`);
      else seen.add(n);
    }
  }
  for (const n of names) if (!seen.has(n)) errors.push(`group ${n} is in no wave`);
  if (errors.length === 0 && !verifyPlanHash(plan as unknown as Plan)) {
    errors.push('plan hash does not match its content');
  }
  return errors;
}
