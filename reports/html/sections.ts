/** The report's first sections: verdict, objectives, timeline, groups with their VMs, checks. */
import type { CheckEvidence, Evidence, TimelineEntry } from '../evidence.ts';
import { esc } from './escape.ts';
import { duration, ms, tone } from './format.ts';
import { ganttSvg, rowsFrom } from './gantt.ts';

/** Above this many VMs the page folds groups and lists only the checks that did not pass. */
export const FOLD_ABOVE_VMS = 50;
/** Above this many groups the main timeline shows waves only; each group has its own chart. */
const GROUP_ROWS_MAX = 150;

export function vmCount(ev: Evidence): number {
  return ev.scope.groups.reduce((n, g) => n + g.vms.length, 0);
}

export function verdictSection(ev: Evidence): string {
  const pass = ev.verdict === 'pass';
  const reasons = ev.verdictReasons.length
    ? `<ul class="reasons">${ev.verdictReasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`
    : '<p>Every objective was met, every check passed, isolation and cleanup were proven.</p>';
  const took = duration((ms(ev.endedAt) ?? 0) - (ms(ev.startedAt) ?? 0));
  return `<header id="verdict" class="verdict ${pass ? 'v-ok' : 'v-bad'}"><p class="kicker">${esc(ev.type)} of runbook ${esc(ev.runbook.name)}, ${esc(ev.id)}</p><h1>Verdict: <span class="verdict-word">${pass ? 'PASS' : 'FAIL'}</span></h1>${reasons}<dl class="facts"><dt>Outcome</dt><dd>${esc(ev.outcome)}</dd><dt>Started</dt><dd>${esc(ev.startedAt)} by ${esc(ev.startedBy)}</dd><dt>Ended</dt><dd>${esc(ev.endedAt)} (${took})</dd><dt>Owner</dt><dd>${esc(ev.runbook.owner)}</dd><dt>Plan hash</dt><dd><code>${esc(ev.runbook.planHash)}</code></dd><dt>Runbook file</dt><dd>${esc(ev.runbook.file)} <code>${esc(ev.runbook.fileSha256)}</code></dd><dt>Sites</dt><dd>${esc(ev.scope.sites.primary)} → ${esc(ev.scope.sites.target)} (secondary ${esc(ev.scope.sites.secondary)}), network ${esc(ev.scope.network)}</dd><dt>Temporal</dt><dd>${esc(ev.temporal.namespace)} / ${esc(ev.temporal.workflowId)} / ${esc(ev.temporal.runId)}</dd><dt>Lifeboat</dt><dd>${esc(ev.lifeboatVersion)}</dd></dl></header>`;
}

/** Points whose guest stayed frozen after the snapshot: named, with what the primary said. */
function frozenNote(points: ReadonlyArray<{ vm: string; guestFrozen?: string }>): string {
  const frozen = points.filter((p) => p.guestFrozen);
  if (frozen.length === 0) return '';
  return `; guest left frozen after the snapshot: ${frozen.map((p) => `${esc(p.vm)} (${esc(p.guestFrozen ?? '')})`).join(', ')}`;
}

function passCell(pass: boolean | undefined): string {
  if (pass === undefined) return '<td class="other">not measured</td>';
  return pass ? '<td class="ok">pass</td>' : '<td class="bad">fail</td>';
}

export function objectivesSection(ev: Evidence): string {
  const row = (name: string, o: Evidence['objectives']['rto']) =>
    `<tr><th scope="row">${name}</th><td>${duration(o.targetMs)}</td><td>${duration(o.measuredMs)}</td>${passCell(o.pass)}<td>${esc(o.basis)}</td></tr>`;
  const ps = ev.pointSet;
  const points = ps
    ? `<p>Recovery point set <code>${esc(ps.pointId)}</code> (${esc(ps.selector)}), captured ${esc(ps.capturedAt)}, ${ps.points.length} points; ${ps.points.filter((p) => p.consistency.achieved !== p.consistency.requested).length} below the requested consistency${frozenNote(ps.points)}.</p>`
    : '<p>No recovery point set was restored.</p>';
  return `<section id="objectives"><h2>Objectives</h2><table><thead><tr><th>Objective</th><th>Target</th><th>Measured</th><th>Result</th><th>How it was measured</th></tr></thead><tbody>${row('RTO', ev.objectives.rto)}${row('RPO', ev.objectives.rpo)}</tbody></table>${points}</section>`;
}

function span(ev: Evidence): { from: number; to: number } {
  const from = ms(ev.startedAt) ?? 0;
  return { from, to: Math.max(from + 1, ms(ev.endedAt) ?? from) };
}

export function timelineSection(ev: Evidence): string {
  const { from, to } = span(ev);
  const groups = ev.scope.groups.length;
  const withVms = vmCount(ev) <= FOLD_ABOVE_VMS;
  const keep = (e: TimelineEntry) =>
    e.kind === 'operation' ||
    e.kind === 'preflight' ||
    e.kind === 'wave' ||
    e.kind === 'teardown' ||
    (e.kind === 'group' && groups <= GROUP_ROWS_MAX) ||
    (e.kind === 'vm' && withVms);
  // Order: operation, preflight, then each wave followed by its groups and their VMs, teardown.
  const order = (e: TimelineEntry) =>
    e.kind === 'operation' ? -2 : e.kind === 'preflight' ? -1 : e.kind === 'teardown' ? 1e9 : (e.wave ?? 0);
  const sub = (e: TimelineEntry) => (e.kind === 'wave' ? 0 : e.kind === 'group' ? 1 : 2);
  const groupIndex = new Map(ev.scope.groups.map((g, i) => [g.name, i]));
  const entries = ev.timeline
    .filter(keep)
    .map((e, i) => ({ e, i }))
    .sort(
      (a, b) =>
        order(a.e) - order(b.e) ||
        (groupIndex.get(a.e.group ?? '') ?? -1) - (groupIndex.get(b.e.group ?? '') ?? -1) ||
        sub(a.e) - sub(b.e) ||
        a.i - b.i,
    )
    .map((x) => x.e);
  const label = (e: TimelineEntry) =>
    e.kind === 'group' ? `  ${e.name}` : e.kind === 'vm' ? `    ${e.vm ?? e.name}` : e.name;
  const note = withVms
    ? ''
    : `<p class="note">${vmCount(ev)} VMs: each group's VMs are charted in its own folded section below${groups > GROUP_ROWS_MAX ? `; ${groups} groups, so this chart shows the waves` : ''}.</p>`;
  return `<section id="timeline"><h2>Timeline</h2>${ganttSvg(rowsFrom(entries, label), from, to, `Timeline of ${ev.id}`)}${note}</section>`;
}

function checkRow(c: CheckEvidence): string {
  return `<tr><td>${esc(c.id)}</td><td>${esc(c.vm)}</td><td>${esc(c.kind)}</td><td class="${tone(c.outcome)}">${esc(c.outcome)}</td><td>${c.attempts}</td><td>${duration((ms(c.endedAt) ?? 0) - (ms(c.startedAt) ?? 0))}</td><td><pre>${esc(c.output)}</pre></td></tr>`;
}

const CHECK_HEAD =
  '<thead><tr><th>Check</th><th>VM</th><th>Kind</th><th>Outcome</th><th>Attempts</th><th>Took</th><th>Output</th></tr></thead>';

export function groupsSection(ev: Evidence): string {
  const { from, to } = span(ev);
  const fold = vmCount(ev) > FOLD_ABOVE_VMS;
  const byGroup = new Map<string, { group?: TimelineEntry; vms: TimelineEntry[]; checks: CheckEvidence[] }>();
  for (const g of ev.scope.groups) byGroup.set(g.name, { vms: [], checks: [] });
  for (const e of ev.timeline) {
    const slot = e.group === undefined ? undefined : byGroup.get(e.group);
    if (!slot) continue;
    if (e.kind === 'group') slot.group = e;
    else if (e.kind === 'vm') slot.vms.push(e);
  }
  for (const c of ev.checks) byGroup.get(c.group)?.checks.push(c);
  const parts = ev.scope.groups.map((g) => {
    const slot = byGroup.get(g.name) as {
      group?: TimelineEntry;
      vms: TimelineEntry[];
      checks: CheckEvidence[];
    };
    const state = slot.group?.outcome ?? 'not started';
    const took = slot.group
      ? duration(
          slot.group.endedAt ? (ms(slot.group.endedAt) ?? 0) - (ms(slot.group.startedAt) ?? 0) : undefined,
        )
      : '';
    const failedChecks = slot.checks.filter((c) => c.outcome !== 'passed').length;
    const open = !fold || tone(state) === 'bad' || failedChecks > 0 ? ' open' : '';
    const chart = slot.vms.length
      ? ganttSvg(
          rowsFrom(slot.vms, (e) => e.vm ?? e.name),
          from,
          to,
          `VMs of group ${g.name}`,
        )
      : '';
    // Small plans list every check once, in the checks section; folded plans keep them here.
    const checks =
      fold && slot.checks.length
        ? `<table class="checks">${CHECK_HEAD}<tbody>${slot.checks.map(checkRow).join('')}</tbody></table>`
        : '';
    const detail = slot.group?.detail ? `<p class="bad">${esc(slot.group.detail)}</p>` : '';
    return `<details class="group"${open}><summary><b>${esc(g.name)}</b> wave ${g.wave}, ${g.vms.length} VM${g.vms.length === 1 ? '' : 's'}: <span class="${tone(state)}">${esc(state)}</span> ${took}${failedChecks ? ` <span class="bad">${failedChecks} check(s) not passed</span>` : ''}</summary>${detail}<p class="vms">${g.vms.map(esc).join(', ')}</p>${chart}${checks}</details>`;
  });
  return `<section id="groups"><h2>Groups and VMs</h2>${parts.join('')}</section>`;
}

export function checksSection(ev: Evidence): string {
  const fold = vmCount(ev) > FOLD_ABOVE_VMS;
  const count = (o: string) => ev.checks.filter((c) => c.outcome === o).length;
  const summary = `<p>${ev.checks.length} checks: ${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped.</p>`;
  const shown = fold ? ev.checks.filter((c) => c.outcome !== 'passed') : ev.checks;
  const note = fold
    ? '<p class="note">Checks that passed are listed with their output under their group above.</p>'
    : '';
  const table = shown.length
    ? `<table class="checks">${CHECK_HEAD}<tbody>${shown.map(checkRow).join('')}</tbody></table>`
    : '';
  return `<section id="checks"><h2>Checks</h2>${summary}${note}${table}</section>`;
}
