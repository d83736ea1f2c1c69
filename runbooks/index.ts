/**
 * The runbook language. What this package offers:
 *
 * - `checkRunbookText(text, file)`: parse + shape + semantic checks; all findings at once, never
 *   throws. `runbook` is set when there are no errors (warnings allowed).
 * - `compileRunbookText(text, file)`: the above, then `compilePlan`; `plan` is set when there are
 *   no errors.
 * - `loadRunbook(file)`: reads a file and compiles it (the only function here that does I/O).
 * - `compilePlan(runbook, source)`: pure; a checked `Runbook` to the `Plan` IR (see plan.ts).
 * - `formatFinding`, `Finding`: `file:line:col: error|warning: message (hint)`.
 * - `planHash`, `verifyPlanHash`, `canonicalJson`: a Plan's identity (pure JS, sandbox-safe).
 * - `RunbookSchema`, `Runbook` and friends: the zod schema and its types; the JSON Schema is
 *   committed as runbooks/runbook.schema.json (regenerate: `npx tsx runbooks/gen-schema.ts`).
 * - `parseDuration`, `formatDuration`: `30s`, `5m`, `1h30m`, `7d` <-> milliseconds.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { checkSemantics } from './check.ts';
import { compilePlan } from './compile.ts';
import { type Finding, hasErrors, sortFindings } from './findings.ts';
import { parseRunbookText } from './parse.ts';
import type { Plan } from './plan.ts';
import type { Runbook } from './schema.ts';
import { checkShape } from './shape.ts';

export { compilePlan, computeWaves, stepsById } from './compile.ts';
export { formatDuration, parseDuration } from './durations.ts';
export { type Finding, type FindingCode, formatFinding, hasErrors, type Severity } from './findings.ts';
export { canonicalJson, planHash, verifyPlanHash } from './hash.ts';
export { parseEd25519PublicKey } from './keys.ts';
export * from './plan.ts';
export {
  type Runbook,
  type RunbookCheck,
  type RunbookGroup,
  RunbookSchema,
  type RunbookStep,
} from './schema.ts';

export interface CheckResult {
  findings: Finding[];
  runbook?: Runbook;
}

export interface LoadResult {
  findings: Finding[];
  plan?: Plan;
}

export function checkRunbookText(text: string, file: string): CheckResult {
  try {
    return checkUnguarded(text, file);
  } catch (err) {
    // A bug of ours must still come back as a finding: callers rely on never seeing a throw.
    const message = err instanceof Error ? err.message : String(err);
    return {
      findings: [
        {
          severity: 'error',
          code: 'internal',
          message: `the checker failed: ${message}`,
          hint: 'please report this runbook as a bug',
          file,
          line: 1,
          col: 1,
          path: '',
        },
      ],
    };
  }
}

function checkUnguarded(text: string, file: string): CheckResult {
  const parsed = parseRunbookText(text, file);
  if (parsed.findings.length > 0) return { findings: sortFindings(parsed.findings) };
  const shape = checkShape(parsed);
  const findings = sortFindings([...shape.findings, ...checkSemantics(parsed)]);
  if (shape.runbook && !hasErrors(findings)) return { findings, runbook: shape.runbook };
  return { findings };
}

export function compileRunbookText(text: string, file: string): LoadResult {
  const checked = checkRunbookText(text, file);
  if (!checked.runbook) return { findings: checked.findings };
  const sha256 = createHash('sha256').update(text).digest('hex');
  return { findings: checked.findings, plan: compilePlan(checked.runbook, { file, sha256 }) };
}

export async function loadRunbook(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    return {
      findings: [
        {
          severity: 'error',
          code: 'read-failed',
          message: `cannot read the file (${reason})`,
          hint: 'check the path',
          file,
          line: 1,
          col: 1,
          path: '',
        },
      ],
    };
  }
  return compileRunbookText(text, file);
}
