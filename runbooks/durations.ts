/**
 * Durations as runbooks write them: one or more `<integer><unit>` parts, e.g. `30s`, `5m`,
 * `1h30m`, `7d`, `250ms`. Parsing returns a value, never throws, so the checker can report
 * every bad duration at once.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+)(ms|s|m|h|d)/y;

export type DurationResult =
  | { ok: true; ms: number }
  | { ok: false; reason: 'syntax' | 'zero' | 'negative' | 'too-large'; message: string; hint: string };

const HINT = 'write a whole number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h30m';

/** Parses a duration; zero and negative durations are refused (nothing in a runbook takes them). */
export function parseDuration(input: unknown): DurationResult {
  if (typeof input === 'number') {
    return { ok: false, reason: 'syntax', message: `duration ${input} has no unit`, hint: HINT };
  }
  if (typeof input !== 'string') {
    return { ok: false, reason: 'syntax', message: 'a duration must be a string like 5m', hint: HINT };
  }
  const text = input.trim();
  if (text.startsWith('-')) {
    return { ok: false, reason: 'negative', message: `duration '${input}' is negative`, hint: HINT };
  }
  if (text.length === 0 || text.length > 40) {
    return { ok: false, reason: 'syntax', message: `'${input}' is not a duration`, hint: HINT };
  }
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== at) {
      return { ok: false, reason: 'syntax', message: `'${input}' is not a duration`, hint: HINT };
    }
    ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  }
  if (!Number.isSafeInteger(ms)) {
    return { ok: false, reason: 'too-large', message: `duration '${input}' is too large`, hint: HINT };
  }
  if (ms === 0) {
    return {
      ok: false,
      reason: 'zero',
      message: `duration '${input}' is zero`,
      hint: 'give a positive duration',
    };
  }
  return { ok: true, ms };
}

/** Renders milliseconds the way a runbook would write them (`1h30m`, `45s`, `250ms`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
