/**
 * A forgiving view of the raw runbook for the checks across fields: accessors that never throw
 * and return undefined or an empty list for anything of the wrong shape.
 */
import { DEFAULTS, defaultStepIn } from './defaults.ts';
import { parseDuration } from './durations.ts';
import type { Finding } from './findings.ts';
import type { Path } from './parse.ts';
import type { OperationKind } from './plan.ts';

export type Obj = Record<string, unknown>;

export function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
export function own(o: Obj | undefined, key: string): unknown {
  return o && Object.hasOwn(o, key) ? o[key] : undefined;
}
export function durationMs(v: unknown): number | undefined {
  const d = parseDuration(v);
  return d.ok ? d.ms : undefined;
}

export interface StepView {
  path: Path;
  kind: 'approval' | 'run' | 'wait';
  role?: string;
  withinMs?: number;
  withinGiven: boolean;
  in: OperationKind[];
}

export interface GroupView {
  index: number;
  name?: string;
  dependsOn: { name: string; index: number }[];
  steps: StepView[];
}

const OPS: readonly OperationKind[] = ['drill', 'failover', 'failback'];

export function stepsOf(g: Obj, groupIndex: number): StepView[] {
  const out: StepView[] = [];
  for (const phase of ['before', 'after'] as const) {
    list(own(g, phase)).forEach((raw, i) => {
      const s = obj(raw);
      for (const kind of ['approval', 'run', 'wait'] as const) {
        const body = obj(own(s, kind));
        if (!body) continue;
        const inList = list(own(body, 'in')).filter((x): x is OperationKind =>
          OPS.includes(x as OperationKind),
        );
        const within = durationMs(own(body, 'within'));
        const view: StepView = {
          path: ['groups', groupIndex, phase, i, kind],
          kind,
          withinGiven: own(body, 'within') !== undefined,
          in: Array.isArray(own(body, 'in')) ? inList : defaultStepIn(kind),
        };
        const role = str(own(body, 'role'));
        if (role !== undefined) view.role = role;
        const w = within ?? (kind === 'approval' ? durationMs(DEFAULTS.approvalWithin) : undefined);
        if (w !== undefined) view.withinMs = w;
        out.push(view);
      }
    });
  }
  return out;
}

export type Add = (
  path: Path,
  f: { severity?: Finding['severity']; code: Finding['code']; message: string; hint?: string; key?: boolean },
) => void;
