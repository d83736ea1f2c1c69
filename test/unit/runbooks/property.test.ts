/**
 * The checker against mutated runbooks: it never throws or hangs, every finding has a position
 * inside the file, and a mutation that breaks a node is reported inside that node.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMap, isPair, isScalar, isSeq, type Node, parseDocument } from 'yaml';
import type { Finding } from '../../../runbooks/findings.ts';
import { checkRunbookText } from '../../../runbooks/index.ts';

const examples = ['diamond.yaml', 'payments.yaml', 'lab.yaml', 'lab-mini.yaml'].map((name) =>
  readFileSync(new URL(`../../../runbooks/examples/${name}`, import.meta.url), 'utf8'),
);

const DURATION_KEYS = new Set(['rpo', 'rto', 'every', 'within', 'for', 'keepAtMost', 'commitWithin']);

interface Target {
  start: number;
  end: number;
  kind: 'scalar' | 'collection' | 'key';
  /** The key under which the node sits, when it is a map value. */
  key?: string;
}

/** Every node a mutation may hit: value scalars, collections (not the root) and map keys. */
function targets(text: string): Target[] {
  const doc = parseDocument(text);
  const out: Target[] = [];
  const visit = (node: unknown, key?: string) => {
    const raw = (node as Node | null)?.range;
    // Block collections' ranges run through the trailing newline; a mutation keeps that newline.
    const range: [number, number] | undefined = raw
      ? [raw[0], raw[0] + text.slice(raw[0], raw[1]).trimEnd().length]
      : undefined;
    if (isScalar(node) && range)
      out.push({ start: range[0], end: range[1], kind: 'scalar', ...(key ? { key } : {}) });
    if (isMap(node)) {
      if (range && key !== undefined) out.push({ start: range[0], end: range[1], kind: 'collection' });
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key) || !pair.key.range) continue;
        const valueRange = (pair.value as Node | null)?.range;
        const end = valueRange
          ? valueRange[0] + text.slice(valueRange[0], valueRange[1]).trimEnd().length
          : pair.key.range[1];
        out.push({ start: pair.key.range[0], end, kind: 'key' });
        visit(pair.value, String(pair.key.value));
      }
    }
    if (isSeq(node)) {
      if (range) out.push({ start: range[0], end: range[1], kind: 'collection' });
      for (const item of node.items) visit(item, undefined);
    }
  };
  visit(doc.contents, undefined);
  return out;
}

function offsetOf(text: string, line: number, col: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return Number.NaN;
    offset = nl + 1;
  }
  return offset + col - 1;
}

function mutate(text: string, t: Target, choice: number): { text: string; start: number; end: number } {
  let replacement: string;
  if (t.kind === 'key') {
    // Keep the value: replace only the key's own text.
    const keyEnd = text.indexOf(':', t.start);
    const out = `${text.slice(0, t.start)}"bad/key"${text.slice(keyEnd)}`;
    return { text: out, start: t.start, end: t.end + ('"bad/key"'.length - (keyEnd - t.start)) };
  }
  if (t.kind === 'collection') replacement = ['42', 'true'][choice % 2]!;
  else if (t.key !== undefined && DURATION_KEYS.has(t.key))
    replacement = ['"0s"', '"-3m"', '"5 min"', '"1x"'][choice % 4]!;
  else replacement = ['{ bogus: 1 }', '[1, 2]', '~'][choice % 3]!;
  const out = `${text.slice(0, t.start)}${replacement}${text.slice(t.end)}`;
  return { text: out, start: t.start, end: t.start + replacement.length };
}

function assertPositions(text: string, findings: Finding[]) {
  const lines = text.split('\n').length;
  for (const f of findings) {
    // checkRunbookText turns its own exceptions into 'internal' findings; none may appear.
    expect(f.code).not.toBe('internal');
    expect(Number.isInteger(f.line) && f.line >= 1 && f.line <= lines).toBe(true);
    expect(Number.isInteger(f.col) && f.col >= 1).toBe(true);
    expect(typeof f.path).toBe('string');
  }
}

describe('checker under mutation', () => {
  it('reports every structured mutation inside the mutated node', () => {
    const all = examples.map((text) => ({ text, targets: targets(text) }));
    fc.assert(
      fc.property(fc.nat(all.length - 1), fc.nat(), fc.nat(), (which, pick, choice) => {
        const ex = all[which]!;
        const t = ex.targets[pick % ex.targets.length]!;
        const m = mutate(ex.text, t, choice);
        const { findings } = checkRunbookText(m.text, 'm.yaml');
        assertPositions(m.text, findings);
        const inside = findings.some((f) => {
          const at = offsetOf(m.text, f.line, f.col);
          return at >= m.start && at <= m.end;
        });
        if (!inside) {
          throw new Error(
            `no finding inside [${m.start}, ${m.end}) ${JSON.stringify(m.text.slice(m.start, m.end))}: ${JSON.stringify(findings)}`,
          );
        }
      }),
      { numRuns: 2000 },
    );
  }, 120_000);

  it('never throws on random edits of the text, and every finding has a position', () => {
    fc.assert(
      fc.property(
        fc.nat(examples.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.nat(8), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 4 }),
        (which, edits) => {
          let text = examples[which]!;
          for (const [at, cut, insert] of edits) {
            const p = at % (text.length + 1);
            text = text.slice(0, p) + insert + text.slice(p + cut);
          }
          const { findings } = checkRunbookText(text, 'm.yaml');
          assertPositions(text, findings);
        },
      ),
      { numRuns: 1000 },
    );
  }, 120_000);

  it('never throws on arbitrary YAML values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const { findings } = checkRunbookText(JSON.stringify(value), 'j.yaml');
        assertPositions(JSON.stringify(value), findings);
        expect(findings.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  }, 60_000);
});
