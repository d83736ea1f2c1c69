/**
 * YAML to a document that remembers where every node came from. Nothing here throws: syntax
 * problems come back as findings, and `locate` maps any path (even one that does not fully exist)
 * to the nearest node's line and column.
 */
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { type Finding, formatPath } from './findings.ts';

export type Path = readonly (string | number)[];

export interface ParsedRunbook {
  file: string;
  text: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** The plain JS value, or undefined when the YAML itself is broken. */
  value: unknown;
  findings: Finding[];
}

export interface Position {
  line: number;
  col: number;
  /** Byte offsets of the node found: [start, end). */
  range: [number, number];
}

// Limits that keep a hostile file from costing more than a runbook ever needs.
const MAX_BYTES = 16 * 1024 * 1024;

export function parseRunbookText(text: string, file: string): ParsedRunbook {
  const lines = new LineCounter();
  const doc = parseDocument(text.length > MAX_BYTES ? '' : text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const findings: Finding[] = [];
  if (text.length > MAX_BYTES) {
    findings.push(at(file, 1, 1, 'yaml-syntax', `file is over ${MAX_BYTES} bytes`, 'split it'));
  }
  for (const e of doc.errors) {
    const pos = lines.linePos(Math.min(e.pos[0], text.length));
    const message = e.message.split('\n')[0] ?? e.message;
    findings.push(at(file, pos.line, pos.col, 'yaml-syntax', message, 'fix the YAML syntax'));
  }
  let value: unknown;
  if (findings.length === 0) {
    try {
      // Aliases are expanded into the value; the cap stops a billion-laughs file.
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      findings.push(at(file, 1, 1, 'yaml-syntax', message, 'fix the YAML'));
    }
  }
  return { file, text, doc, lines, value, findings };
}

function at(
  file: string,
  line: number,
  col: number,
  code: Finding['code'],
  message: string,
  hint: string,
): Finding {
  return { severity: 'error', code, message, hint, file, line, col, path: '' };
}

/**
 * The node at `path` (or, with `key`, the key node naming its last segment). When the path does
 * not exist all the way down, the deepest node that does exist.
 */
export function locate(parsed: ParsedRunbook, path: Path, opts: { key?: boolean } = {}): Position {
  let node: unknown = parsed.doc.contents;
  let found: unknown = node;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) break;
      if (last && opts.key && pair.key) {
        found = pair.key;
        break;
      }
      // A key with no value (`name:`) has no value node; its key is the best place to point.
      node = pair.value ?? pair.key;
      found = node;
      if (pair.value === null || pair.value === undefined) break;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined || item === null) break;
      node = item;
      found = node;
    } else {
      break;
    }
  }
  return positionOf(parsed, found);
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function positionOf(parsed: ParsedRunbook, node: unknown): Position {
  const range = (node as Node | null | undefined)?.range;
  if (!range) return { line: 1, col: 1, range: [0, parsed.text.length] };
  const p = parsed.lines.linePos(range[0]);
  return { line: p.line, col: p.col, range: [range[0], range[1]] };
}

/** Builds a finding at a path of the parsed runbook. */
export function findingAt(
  parsed: ParsedRunbook,
  path: Path,
  f: { severity?: Finding['severity']; code: Finding['code']; message: string; hint?: string; key?: boolean },
): Finding {
  const pos = locate(parsed, path, { key: f.key ?? false });
  const finding: Finding = {
    severity: f.severity ?? 'error',
    code: f.code,
    message: f.message,
    file: parsed.file,
    line: pos.line,
    col: pos.col,
    path: formatPath(path),
  };
  if (f.hint !== undefined) finding.hint = f.hint;
  return finding;
}
