/**
 * SVG Gantt charts: one row per span (a wave, a group, a VM), bars placed on the operation's
 * own clock. Text sits in <text> elements, so a browser's find and pdftotext see it.
 */
import type { TimelineEntry } from '../evidence.ts';
import { esc } from './escape.ts';
import { duration, ms, tone } from './format.ts';

export interface GanttRow {
  label: string;
  kind: TimelineEntry['kind'];
  start: number;
  /** Open spans (never ended) run to the chart's end, drawn hatched. */
  end: number | undefined;
  outcome: string;
  detail?: string | undefined;
}

const WIDTH = 960;
const LABEL = 230;
const ROW = 18;
const AXIS = 22;

function niceStep(spanMs: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  const target = spanMs / 1000 / 8;
  return (steps.find((s) => s >= target) ?? 86400) * 1000;
}

function tickLabel(offset: number): string {
  const s = Math.round(offset / 1000);
  if (s < 120) return `+${s}s`;
  if (s < 7200) return `+${Math.round(s / 60)}m`;
  return `+${(s / 3600).toFixed(1)}h`;
}

export function rowsFrom(entries: TimelineEntry[], label: (e: TimelineEntry) => string): GanttRow[] {
  const rows: GanttRow[] = [];
  for (const e of entries) {
    const start = ms(e.startedAt);
    if (start === undefined) continue;
    rows.push({
      label: label(e),
      kind: e.kind,
      start,
      end: ms(e.endedAt),
      outcome: e.outcome,
      detail: e.detail,
    });
  }
  return rows;
}

/** An SVG of the rows between `from` and `to` (ms since epoch). */
export function ganttSvg(rows: GanttRow[], from: number, to: number, title: string): string {
  const span = Math.max(1, to - from);
  const plot = WIDTH - LABEL - 10;
  const x = (t: number) => LABEL + Math.max(0, Math.min(plot, ((t - from) / span) * plot));
  const height = AXIS + rows.length * ROW + 4;
  const out: string[] = [
    `<svg class="gantt" role="img" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}"><title>${esc(title)}</title>`,
  ];
  const step = niceStep(span);
  for (let t = 0; t <= span; t += step) {
    const px = x(from + t).toFixed(1);
    out.push(
      `<line class="grid" x1="${px}" y1="${AXIS - 4}" x2="${px}" y2="${height}"/><text class="tick" x="${px}" y="12">${tickLabel(t)}</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = AXIS + i * ROW;
    const x1 = x(r.start);
    const x2 = Math.max(x1 + 2, x(r.end ?? to));
    const cls = `bar ${tone(r.outcome)} k-${r.kind}${r.end === undefined ? ' open' : ''}`;
    const tip = `${r.label}: ${r.outcome}, ${duration(r.end === undefined ? undefined : r.end - r.start)}${r.detail ? ` (${r.detail})` : ''}`;
    out.push(
      `<text class="lbl k-${r.kind}" x="4" y="${y + 12}">${esc(r.label)}</text><rect class="${cls}" x="${x1.toFixed(1)}" y="${y + 3}" width="${(x2 - x1).toFixed(1)}" height="${ROW - 6}"><title>${esc(tip)}</title></rect>`,
    );
  });
  out.push('</svg>');
  return out.join('');
}
