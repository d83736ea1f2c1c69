/**
 * Shape checking: runs the zod schema and turns each issue into a finding at the offending node,
 * with did-you-mean hints for unknown keys and a readable choice when a step or check matches
 * none of its forms.
 */
import type { z } from 'zod';
import { parseDuration } from './durations.ts';
import { didYouMean, type Finding } from './findings.ts';
import { findingAt, type ParsedRunbook, type Path } from './parse.ts';
import { DURATION_TYPE_MESSAGE, type Runbook, RunbookSchema } from './schema.ts';

type Issue = z.core.$ZodIssue;

// The few parts of zod's internal definitions needed to find the keys an object allows.
interface SchemaLike {
  _zod: { def: unknown };
}
interface DefLike {
  type: string;
  shape?: Record<string, SchemaLike>;
  element?: SchemaLike;
  innerType?: SchemaLike;
  options?: SchemaLike[];
  valueType?: SchemaLike;
}

function def(s: SchemaLike): DefLike {
  return s._zod.def as DefLike;
}

function unwrap(s: SchemaLike): SchemaLike {
  let cur = s;
  for (
    let d = def(cur);
    (d.type === 'optional' || d.type === 'nullable' || d.type === 'default') && d.innerType;
  ) {
    cur = d.innerType;
    d = def(cur);
  }
  return cur;
}

function objectKeys(s: SchemaLike): string[] {
  const d = def(unwrap(s));
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

/** The schema at a path; through a union, the option whose object has the next key. */
function schemaAt(root: SchemaLike, path: readonly PropertyKey[]): SchemaLike | undefined {
  let cur: SchemaLike | undefined = root;
  for (const seg of path) {
    if (!cur) return undefined;
    let d = def(unwrap(cur));
    if (d.type === 'union' && d.options) {
      const picked: SchemaLike | undefined = d.options.find((o) => objectKeys(o).includes(String(seg)));
      if (!picked) return undefined;
      d = def(unwrap(picked));
    }
    if (d.type === 'object') cur = d.shape?.[String(seg)];
    else if (d.type === 'array') cur = d.element;
    else if (d.type === 'record') cur = d.valueType;
    else return undefined;
  }
  return cur;
}

export interface ShapeResult {
  findings: Finding[];
  runbook?: Runbook;
}

export function checkShape(parsed: ParsedRunbook): ShapeResult {
  const result = RunbookSchema.safeParse(parsed.value);
  if (result.success) return { findings: [], runbook: result.data };
  const findings: Finding[] = [];
  for (const issue of result.error.issues) collect(parsed, issue, RunbookSchema, [], findings);
  return { findings };
}

function toPath(p: readonly PropertyKey[]): (string | number)[] {
  return p.map((s) => (typeof s === 'number' ? s : String(s)));
}

/** A finding from one of our refinements, which carry their finding code and hint as params. */
function refinementFinding(
  parsed: ParsedRunbook,
  path: Path,
  issue: { message: string; params?: unknown },
  key: boolean,
): Finding {
  const params = (issue.params ?? {}) as { code?: Finding['code']; hint?: string };
  const f: Parameters<typeof findingAt>[2] = { code: params.code ?? 'shape', message: issue.message, key };
  if (params.hint !== undefined) f.hint = params.hint;
  return findingAt(parsed, path, f);
}

function collect(parsed: ParsedRunbook, issue: Issue, schema: SchemaLike, base: Path, out: Finding[]): void {
  const path = [...base, ...toPath(issue.path)];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = objectKeys(schemaAt(schema, issue.path) ?? schema);
      for (const key of issue.keys) {
        const guess = didYouMean(key, known);
        out.push(
          findingAt(parsed, [...path, key], {
            code: 'unknown-key',
            key: true,
            message: `unknown key '${key}'`,
            hint: guess ? `did you mean '${guess}'?` : `expected one of: ${known.join(', ')}`,
          }),
        );
      }
      return;
    }
    case 'invalid_union': {
      const unionSchema = schemaAt(schema, issue.path);
      const options = unionSchema ? (def(unwrap(unionSchema)).options ?? []) : [];
      const branches = issue.errors;
      if (branches.length === 0 || options.length !== branches.length) {
        out.push(findingAt(parsed, path, { code: 'shape', message: issue.message }));
        return;
      }
      // The branch that got deepest before failing is the one the author meant.
      const depth = branches.map((b) => Math.min(...b.map((i) => i.path.length)));
      const deepest = Math.max(...depth);
      const winners = depth.flatMap((n, i) => (n === deepest ? [i] : []));
      if (winners.length === 1) {
        const w = winners[0] ?? 0;
        for (const sub of branches[w] ?? []) collect(parsed, sub, options[w] ?? schema, path, out);
        return;
      }
      reportNoForm(parsed, path, options, out);
      return;
    }
    case 'invalid_key':
      // A record key refused by its own schema (an unsafe operator or role name): each reason
      // is reported at the key itself, not at its value.
      for (const sub of issue.issues) out.push(refinementFinding(parsed, path, sub, true));
      return;
    case 'custom':
      out.push(refinementFinding(parsed, path, issue, false));
      return;
    case 'invalid_type': {
      const value = valueAt(parsed.value, path);
      if (value !== undefined && issue.message.startsWith(DURATION_TYPE_MESSAGE)) {
        const d = parseDuration(value);
        if (!d.ok)
          out.push(findingAt(parsed, path, { code: 'bad-duration', message: d.message, hint: d.hint }));
        return;
      }
      if (value === undefined && path.length > 0) {
        const key = path[path.length - 1];
        out.push(
          findingAt(parsed, path.slice(0, -1), {
            code: 'missing-key',
            message: `missing required key '${String(key)}'`,
            hint: `add ${String(key)}: <${issue.expected}>`,
          }),
        );
        return;
      }
      const message = /expected/i.test(issue.message)
        ? `expected ${issue.expected}, got ${describe(value)}`
        : `${issue.message} (got ${describe(value)})`;
      out.push(findingAt(parsed, path, { code: 'shape', message }));
      return;
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v)).join(', ');
      out.push(
        findingAt(parsed, path, {
          code: 'shape',
          message: `${JSON.stringify(valueAt(parsed.value, path)) ?? 'value'} is not allowed here`,
          hint: `expected one of: ${allowed}`,
        }),
      );
      return;
    }
    case 'too_big':
    case 'too_small': {
      const limit = issue.code === 'too_big' ? issue.maximum : issue.minimum;
      const value = valueAt(parsed.value, path);
      const bound = issue.code === 'too_big' ? 'at most' : 'at least';
      const what =
        issue.origin === 'array'
          ? `a list of ${bound} ${String(limit)} items`
          : issue.origin === 'string'
            ? `a string of ${bound} ${String(limit)} characters`
            : `${bound} ${String(limit)}`;
      out.push(
        findingAt(parsed, path, { code: 'shape', message: `expected ${what}, got ${describe(value)}` }),
      );
      return;
    }
    default:
      out.push(findingAt(parsed, path, { code: 'shape', message: issue.message }));
  }
}

function reportNoForm(parsed: ParsedRunbook, path: Path, options: SchemaLike[], out: Finding[]): void {
  const forms = options.flatMap((o) => objectKeys(o));
  const value = valueAt(parsed.value, path);
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  const present = keys.filter((k) => forms.includes(k));
  if (present.length > 1) {
    out.push(
      findingAt(parsed, path, {
        code: 'shape',
        message: `give exactly one of ${forms.join(', ')}, not ${present.join(' and ')}`,
        hint: 'split it into separate list items',
      }),
    );
    return;
  }
  let reported = false;
  for (const k of keys) {
    if (forms.includes(k)) continue;
    const guess = didYouMean(k, forms);
    out.push(
      findingAt(parsed, [...path, k], {
        code: 'unknown-key',
        key: true,
        message: `unknown key '${k}'`,
        hint: guess ? `did you mean '${guess}'?` : `expected one of: ${forms.join(', ')}`,
      }),
    );
    reported = true;
  }
  if (!reported && forms.length === 0) {
    out.push(findingAt(parsed, path, { code: 'shape', message: `unexpected ${describe(value)} here` }));
  } else if (!reported) {
    out.push(
      findingAt(parsed, path, {
        code: 'shape',
        message: `expected one of: ${forms.join(', ')}`,
        hint: `write it as a map with one key, e.g. ${forms[0] ?? 'key'}: {...}`,
      }),
    );
  }
}

function valueAt(root: unknown, path: Path): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}
