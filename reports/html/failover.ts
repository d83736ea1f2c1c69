/**
 * The failover's own section, right after the objectives: how the primary stopped, the downtime,
 * the final cycle, the records compared disk by disk, the fence, protection and any rollback.
 * Written for a reviewer who must trust that a planned migration lost nothing, or see exactly what
 * a disaster failover lost and that the old primary cannot come back by itself.
 */
import type { Evidence, FailoverEvidence } from '../evidence.ts';
import { esc } from './escape.ts';
import { duration, tone, yesNo } from './format.ts';

const METHOD_WORDS: Record<FailoverEvidence['shutdown'][number]['method'], string> = {
  agent: 'guest agent',
  acpi: 'ACPI power button',
  forced: 'forced off',
  'already-off': 'already off',
};

/** A forced shutdown is a warning: the guest did not flush and stop by itself in time. */
function methodClass(method: FailoverEvidence['shutdown'][number]['method']): string {
  if (method === 'forced') return 'other';
  return method === 'already-off' ? '' : 'ok';
}

function table(head: string[], rows: string[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function shutdownPart(fo: FailoverEvidence): string {
  if (fo.shutdown.length === 0)
    return fo.mode === 'disaster'
      ? '<p>No primary VM was shut down by the failover: the primary was not reachable, or its VMs are stopped by the fence (below).</p>'
      : '<p class="bad">No primary VM shutdown was recorded.</p>';
  const forced = fo.shutdown.filter((s) => s.method === 'forced').length;
  const rows = fo.shutdown.map(
    (s) =>
      `<tr><td>${esc(s.vm)}</td><td class="${methodClass(s.method)}">${esc(METHOD_WORDS[s.method])}</td><td>${yesNo(s.wasRunning)}</td><td>${esc(s.at)}</td></tr>`,
  );
  const note = forced
    ? `<p class="other">${forced} VM${forced === 1 ? ' was' : 's were'} forced off after the guest agent and ACPI did not stop ${forced === 1 ? 'it' : 'them'} in time.</p>`
    : '';
  return `<h3>Shutdown at the primary</h3><p>In the order they ended.</p>${table(['VM', 'Method that worked', 'Was running', 'At'], rows)}${note}`;
}

function dataProofPart(fo: FailoverEvidence): string {
  const what =
    fo.mode === 'planned'
      ? "Each data disk's last workload record at the primary after shutdown, against the final point's, read offline."
      : "Each data disk's last workload record at the primary (read once the fence stopped its VMs) against the restored point's.";
  if (fo.dataProof.length === 0)
    return `<h3>Data proof</h3><p class="${fo.mode === 'planned' ? 'bad' : 'other'}">No data disk was compared.</p>`;
  const rows = fo.dataProof.map(
    (d) =>
      `<tr><td>${esc(d.vm)}</td><td>${esc(d.target)}</td><td>${d.primarySeq}</td><td>${d.pointSeq}</td><td class="${d.lost > 0 ? 'bad' : 'ok'}">${d.lost}</td><td class="${d.identical ? 'ok' : 'bad'}">${yesNo(d.identical)}</td></tr>`,
  );
  return `<h3>Data proof</h3><p>${what}</p>${table(['VM', 'Disk', "Primary's last record", "Point's last record", 'Records lost', 'Identical'], rows)}`;
}

function fencePart(fo: FailoverEvidence): string {
  const f = fo.fence;
  if (!f)
    return fo.mode === 'disaster'
      ? '<h3>Fence of the primary</h3><p class="bad">No fence was recorded.</p>'
      : '';
  const e = f.enforced;
  const enforcement = e
    ? `<p class="ok">Enforced at site ${esc(e.site)} at ${esc(e.at)}: its worker stopped the runbook's VMs, turned their autostart off and recorded the fence.</p>${
        e.vms.length
          ? table(
              ['VM', 'What the site did'],
              e.vms.map((v) => `<tr><td>${esc(v.vm)}</td><td>${esc(v.detail)}</td></tr>`),
            )
          : ''
      }`
    : `<p class="other">Not enforced yet: the primary's worker has not read the fence, so its VMs may still run there; it stops them when it reconnects.</p>`;
  return `<h3>Fence of the primary</h3><dl class="facts"><dt>By</dt><dd>${esc(f.by)}</dd><dt>Why</dt><dd>${esc(f.reason)}</dd><dt>At</dt><dd>${esc(f.at)}</dd><dt>Primary answered</dt><dd class="${f.primaryAnswered ? 'other' : ''}">${yesNo(f.primaryAnswered)}</dd><dt>Detail</dt><dd>${esc(f.detail)}</dd></dl>${enforcement}`;
}

function protectionFacts(fo: FailoverEvidence): string {
  const p = fo.protection;
  if (!p) return '<dt>Protection</dt><dd class="other">not recorded</dd>';
  const list = (xs: string[]) => (xs.length ? xs.map(esc).join(', ') : 'none');
  return `<dt>Protection paused</dt><dd>${list(p.paused)}</dd>${p.resumed ? `<dt>Protection resumed</dt><dd>${list(p.resumed)}</dd>` : ''}${p.error ? `<dt>Protection error</dt><dd class="bad">${esc(p.error)}</dd>` : ''}`;
}

function rollbackPart(fo: FailoverEvidence): string {
  if (fo.primaryRestarted.length === 0) return '';
  const rows = fo.primaryRestarted.map(
    (r) =>
      `<tr><td>${esc(r.vm)}</td><td class="${r.ok ? 'ok' : 'bad'}">${r.ok ? 'started' : 'NOT started'}</td><td>${esc(r.detail)}</td><td>${esc(r.at)}</td></tr>`,
  );
  return `<h3>Primary VMs restarted by the rollback</h3>${table(['VM', 'Result', 'Detail', 'At'], rows)}`;
}

function factsPart(fo: FailoverEvidence): string {
  const mode =
    fo.mode === 'planned'
      ? 'planned migration: the primary shut down, a final cycle ran, no record may be lost'
      : 'disaster: the primary fenced, the secondary started from a committed point set';
  const downtime =
    fo.downtimeMs === undefined
      ? `<dd class="other">not measured: ${fo.firstStopAt ? 'not every group became healthy at the secondary' : 'the failover stopped no primary VM, the outage began before it (the RTO above counts from its start)'}</dd>`
      : `<dd>${duration(fo.downtimeMs)}, from the first primary VM stopped to the last group healthy at the secondary</dd>`;
  const began = fo.firstStopAt ? esc(fo.firstStopAt) : 'no primary VM was stopped by the failover';
  const cycle = fo.finalCycle
    ? `<code>${esc(fo.finalCycle.cycleId)}</code>: <span class="${tone(fo.finalCycle.outcome)}">${esc(fo.finalCycle.outcome)}</span>${fo.finalCycle.error ? ` <span class="bad">${esc(fo.finalCycle.error)}</span>` : ''}`
    : fo.mode === 'planned'
      ? '<span class="bad">none recorded</span>'
      : 'none: the primary was not there to copy from';
  const lost = `<span class="${fo.recordsLost > 0 ? 'bad' : 'ok'}">${fo.recordsLost}</span>`;
  const disaster =
    fo.mode === 'disaster'
      ? `<dt>Loss window</dt><dd>${duration(fo.lossWindowMs)}</dd><dt>Records lost counted from</dt><dd>${esc(fo.recordsLostFrom ?? 'not recorded')}</dd>`
      : '';
  return `<dl class="facts"><dt>Mode</dt><dd>${mode}</dd><dt>Downtime</dt>${downtime}<dt>Downtime began</dt><dd>${began}</dd><dt>Final cycle</dt><dd>${cycle}</dd><dt>Records lost</dt><dd>${lost}</dd>${disaster}${protectionFacts(fo)}</dl>`;
}

/** Empty for a drill or a failback: only a failover's evidence has this section. */
export function failoverSection(ev: Evidence): string {
  if (ev.type !== 'failover') return '';
  const fo = ev.failover;
  if (!fo)
    return '<section id="failover"><h2>Failover</h2><p class="bad">No failover facts were recorded.</p></section>';
  const kept = fo.commitTimeoutKept
    ? '<p class="other">The commit window ran out: the failover was kept running at the secondary (there is no primary to roll back to) and waits for an operator to commit it.</p>'
    : '';
  return `<section id="failover"><h2>Failover</h2>${factsPart(fo)}${kept}${shutdownPart(fo)}${dataProofPart(fo)}${fencePart(fo)}${rollbackPart(fo)}</section>`;
}
