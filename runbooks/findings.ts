/**
 * Findings: what the checker says about a runbook. Each one is a value with a code, a position
 * (file, 1-based line and column, and the path of the offending node) and usually a hint.
 */

export type Severity = 'error' | 'warning';

export type FindingCode =
  | 'yaml-syntax'
  | 'read-failed'
  | 'internal'
  | 'shape'
  | 'unknown-key'
  | 'missing-key'
  | 'bad-duration'
  | 'bad-name'
  | 'bad-key'
  | 'unknown-dependency'
  | 'dependency-cycle'
  | 'duplicate-vm'
  | 'duplicate-group'
  | 'empty-group'
  | 'unmapped-network'
  | 'role-without-operators'
  | 'unknown-operator'
  | 'unknown-role'
  | 'replication-exceeds-rpo'
  | 'replication-near-rpo'
  | 'approvals-exceed-rto'
  | 'duplicate-site-name'
  | 'data-command-needs-application'
  | LiveFindingCode;

/** Live checks (`--live`): the runbook against the running sites (drivers/live-check.ts). */
export type LiveFindingCode =
  | 'site-unreachable'
  | 'site-worker-unavailable'
  | 'live-check-failed'
  | 'vm-missing'
  | 'disk-mismatch'
  | 'disk-unreadable'
  | 'vm-network-unmapped'
  | 'network-missing'
  | 'network-inactive'
  | 'storage-missing'
  | 'storage-not-writable'
  | 'insufficient-space'
  | 'insufficient-memory';

export interface Finding {
  severity: Severity;
  code: FindingCode;
  message: string;
  hint?: string;
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** The offending node's path, e.g. `groups[2].dependsOn[0]`; empty for the document. */
  path: string;
}

/** `file:line:col: error|warning: message (hint)`, the form editors and CI logs link. */
export function formatFinding(f: Finding): string {
  const hint = f.hint ? ` (${f.hint})` : '';
  return `${f.file}:${f.line}:${f.col}: ${f.severity}: ${f.message}${hint}`;
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

/** Orders findings by file, then position, so output is stable and reads top to bottom. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.code.localeCompare(b.code),
  );
}

/** Renders a path (`['groups', 2, 'vms', 0]`) the way a person reads it: `groups[2].vms[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** Edit distance counting a swap of two neighbours as one edit (typos like `alcie`). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prevPrev: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, (prevPrev[j - 2] ?? 0) + 1);
      cur.push(d);
    }
    prevPrev = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest candidate within a small edit distance, or undefined when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const limit = Math.max(1, Math.floor(word.length / 3));
  if (word.length > 64) return undefined;
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance && d <= limit) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
