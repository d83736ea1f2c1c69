/** Small formatting helpers for the report page. */
export function ms(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function duration(msValue: number | undefined): string {
  if (msValue === undefined) return 'not measured';
  if (msValue < 1000) return `${Math.round(msValue)} ms`;
  const s = msValue / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

const GOOD = new Set(['succeeded', 'done', 'ok', 'passed', 'proven', 'isolated', 'approve', 'pass']);
const BAD = new Set([
  'failed',
  'refused',
  'not proven',
  'reachable',
  'reject',
  'fail',
  'cancelled',
  'rolled-back',
]);

/** A CSS class for an outcome word: ok, bad or other. */
export function tone(outcome: string): 'ok' | 'bad' | 'other' {
  if (GOOD.has(outcome)) return 'ok';
  if (BAD.has(outcome)) return 'bad';
  return 'other';
}

export function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}
