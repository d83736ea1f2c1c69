/**
 * Pieces the workflow input validators share (validate*.ts): shape checks that list problems
 * instead of throwing, so bad input becomes one clear non-retryable failure (workflows/guard.ts).
 * Pure, no workflow APIs.
 */
import {
  controllerWorkflowId,
  type OperationWorkflowIdParts,
  parseOperationWorkflowId,
} from '../platform/names.ts';
import { verifyPlanHash } from '../runbooks/hash.ts';
import { PLAN_VERSION, type Plan } from '../runbooks/plan.ts';

const STEP_KINDS = new Set(['approval', 'run', 'wait']);
const CHECK_KINDS = new Set(['agent', 'tcp', 'http', 'serial', 'data']);
const ON_FAILURE = new Set(['rollback', 'pause', 'continue']);

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isName(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

export function isPositiveInteger(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1;
}

/** The fields of `obj` that are not names, as problems of `at`. */
export function missingNames(obj: Record<string, unknown>, fields: readonly string[], at = ''): string[] {
  return fields.filter((f) => !isName(obj[f])).map((f) => `${at}${f} is missing`);
}

/** `value` (of `field`) is one of `kinds`, or this is the problem. */
export function oneOfProblems(field: string, value: unknown, kinds: readonly string[]): string[] {
  return typeof value === 'string' && kinds.includes(value)
    ? []
    : [`${field} ${String(value)} is not one of ${kinds.join(', ')}`];
}

/**
 * Workflows that may only run as a child of one workflow (`expected`, described by `what`)
 * refuse any other parent, so a hand-started workflow cannot slip past the checks of the parent.
 */
export function parentProblems(parentId: string | undefined, expected: string, what: string): string[] {
  return parentId === expected ? [] : [`started by ${parentId ?? 'a client'}, not by ${what} ${expected}`];
}

/**
 * A child of the runbook's controller names the controller (it reports there) and was started
 * by it, so a hand-started workflow cannot slip past the controller's admission checks.
 */
export function controllerChildProblems(
  runbook: string,
  controllerId: unknown,
  parentId: string | undefined,
): string[] {
  const expected = controllerWorkflowId(runbook);
  const errors = controllerId === expected ? [] : [`controllerId ${String(controllerId)} is not ${expected}`];
  return [...errors, ...parentProblems(parentId, expected, 'the controller')];
}

/** `id` (the value of `field`) is an operation id `runbook/<name>/<kind>/<n>` of one of `kinds`. */
export function operationIdOf(
  field: string,
  id: unknown,
  kinds: readonly string[],
): { parts: OperationWorkflowIdParts | undefined; problems: string[] } {
  const parts = typeof id === 'string' ? parseOperationWorkflowId(id) : undefined;
  if (parts && kinds.includes(parts.kind)) return { parts, problems: [] };
  const problem = `${field} ${String(id)} is not runbook/<name>/<kind>/<n> with kind ${kinds.join(' or ')}`;
  return { parts: undefined, problems: [problem] };
}

/**
 * A controller's child that carries its own operation id in `id` (of one of `kinds`): the id is
 * the Plan's runbook's, the controller is its parent, and the Plan is whole.
 */
export function controllerOperationProblems(
  input: Record<string, unknown>,
  kinds: readonly string[],
  parentId: string | undefined,
): string[] {
  const { id, plan, controllerId } = input;
  const { parts, problems } = operationIdOf('id', id, kinds);
  const runbook = planRunbook(plan);
  if (runbook !== undefined) {
    if (parts && parts.runbook !== runbook)
      problems.push(`id ${String(id)} is not an id of runbook ${runbook}`);
    problems.push(...controllerChildProblems(runbook, controllerId, parentId));
  }
  return [...problems, ...planProblems(plan)];
}

/**
 * A child of the operation whose id it carries in `field` (of one of `kinds`, described by
 * `what`): the id must be well-formed and that operation must be the parent.
 */
export function operationChildProblems(
  field: string,
  id: unknown,
  kinds: readonly string[],
  parentId: string | undefined,
  what: string,
): { parts: OperationWorkflowIdParts | undefined; problems: string[] } {
  const { parts, problems } = operationIdOf(field, id, kinds);
  if (!parts) return { parts, problems };
  return { parts, problems: parentProblems(parentId, id as string, what) };
}

export function sitesProblems(sites: unknown, at: string): string[] {
  if (!isObject(sites) || !isObject(sites.primary) || !isObject(sites.secondary)) {
    return [`${at} needs primary and secondary`];
  }
  const errors: string[] = [];
  for (const role of ['primary', 'secondary'] as const) {
    const s = sites[role] as Record<string, unknown>;
    if (!isName(s.name)) errors.push(`${at}.${role}.name is missing`);
    if (!isObject(s.networks)) errors.push(`${at}.${role}.networks is missing`);
  }
  return errors;
}

/** One Plan group's problems; the group's name, when it has one, for the caller's own checks. */
export function groupProblems(g: unknown): { name: string | undefined; problems: string[] } {
  if (!isObject(g) || typeof g.name !== 'string')
    return { name: undefined, problems: ['a group has no name'] };
  const errors: string[] = [];
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
  return { name: g.name, problems: errors };
}

/** The Plan's runbook name, when it has one. */
export function planRunbook(plan: unknown): string | undefined {
  const runbook = isObject(plan) && isObject(plan.runbook) ? plan.runbook.name : undefined;
  return typeof runbook === 'string' ? runbook : undefined;
}

/** A compiled Plan's problems: version, sites, groups, waves, operators and, if all is well, its hash. */
export function planProblems(plan: unknown): string[] {
  if (!isObject(plan)) return ['plan is missing'];
  const errors: string[] = [];
  if (plan.version !== PLAN_VERSION)
    errors.push(`plan version ${String(plan.version)} is not ${PLAN_VERSION}`);
  if (planRunbook(plan) === undefined) return [...errors, 'plan.runbook.name is missing'];
  errors.push(...sitesProblems(plan.sites, 'plan.sites'));
  if (!Array.isArray(plan.groups) || !Array.isArray(plan.waves))
    return [...errors, 'plan.groups/waves missing'];
  if (!isObject(plan.operators) || !isObject(plan.roles)) errors.push('plan.operators/roles missing');
  const names = new Set<string>();
  for (const g of plan.groups as unknown[]) {
    const { name, problems } = groupProblems(g);
    if (name !== undefined && names.has(name)) errors.push(`group ${name} appears twice`);
    if (name !== undefined) names.add(name);
    errors.push(...problems);
  }
  errors.push(...waveProblems(plan.waves as unknown[], names));
  if (errors.length === 0 && !verifyPlanHash(plan as unknown as Plan)) {
    errors.push('plan hash does not match its content');
  }
  return errors;
}

function waveProblems(waves: unknown[], names: ReadonlySet<string>): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const wave of waves) {
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
  return errors;
}
