/**
 * The failback's own section, right after the objectives: the downtime, how the secondary's VMs
 * stopped, the final reprotect, the records compared disk by disk at both sites, the boot
 * counters at home, the fence lifted and what was cleaned up. Drawn only when the evidence holds
 * failback facts, so pages drawn before they existed render exactly as they did.
 */
import type { Evidence, FailbackEvidence } from '../evidence.ts';
import { esc } from './escape.ts';
import { duration, yesNo } from './format.ts';

const METHOD_WORDS: Record<FailbackEvidence['shutdown'][number]['method'], string> = {
  agent: 'guest agent',
  acpi: 'ACPI power button',
  forced: 'forced off',
  'already-off': 'already off',
};

function table(head: string[], rows: string[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** `1.5 MiB`, `812 KiB`, `96 B`. */
export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} B`;
}

function factsPart(fb: FailbackEvidence): string {
  const downtime =
    fb.downtimeMs === undefined
      ? '<dd class="other">not measured: not every group became healthy at the primary</dd>'
      : `<dd>${duration(fb.downtimeMs)}, from the first secondary VM's shutdown to the last group healthy at the primary</dd>`;
  const lost = `<span class="${fb.recordsLost > 0 ? 'bad' : 'ok'}">${fb.recordsLost}</span>`;
  const moved =
    fb.recordsMoved === undefined
      ? 'not counted'
      : `${fb.recordsMoved} (written at the secondary since the common point)`;
  const fence = fb.fenceLifted
    ? fb.fenceLifted.lifted
      ? `lifted at ${esc(fb.fenceLifted.at)} (set by ${esc(fb.fenceLifted.fencedBy ?? 'a disaster failover')})`
      : 'none stood at the primary'
    : 'not recorded';
  return `<dl class="facts"><dt>Downtime</dt>${downtime}<dt>Shutdown began</dt><dd>${esc(fb.firstStopAt ?? 'no secondary VM was stopped')}</dd><dt>Records lost</dt><dd>${lost}</dd><dt>Records moved home</dt><dd>${moved}</dd><dt>Primary's fence</dt><dd>${fence}</dd></dl>`;
}

function shutdownPart(fb: FailbackEvidence): string {
  if (fb.shutdown.length === 0) return '<p class="bad">No secondary VM shutdown was recorded.</p>';
  const rows = fb.shutdown.map(
    (s) =>
      `<tr><td>${esc(s.vm)}</td><td class="${s.method === 'forced' ? 'other' : 'ok'}">${esc(METHOD_WORDS[s.method])}</td><td>${yesNo(s.wasRunning)}</td><td>${esc(s.at)}</td></tr>`,
  );
  return `<h3>Shutdown at the secondary</h3>${table(['VM', 'Method that worked', 'Was running', 'At'], rows)}`;
}

function reprotectPart(fb: FailbackEvidence): string {
  if (fb.finalReprotect.length === 0) return '';
  const rows = fb.finalReprotect.map(
    (r) =>
      `<tr><td>${esc(r.vm)}</td><td>${r.pointId === null ? '<span class="other">none</span>' : `<code>${esc(r.pointId)}</code>`}</td><td>${bytes(r.deltaBytes)}</td><td>${bytes(r.bytesReceived)}</td><td class="${r.divergentBytes > 0 ? 'other' : ''}">${bytes(r.divergentBytes)}</td><td>${r.fullReason === undefined ? 'delta' : `<span class="other">whole disks: ${esc(r.fullReason)}</span>`}</td></tr>`,
  );
  return `<h3>Final reprotect into the primary's disks</h3><p>With every secondary VM stopped: only the blocks that differ since the common point travelled.</p>${table(['VM', 'Common point', 'Delta', 'On the link', "Primary's own writes kept aside", 'Kind'], rows)}`;
}

function proofPart(fb: FailbackEvidence): string {
  if (fb.dataProof.length === 0) return '<h3>Data proof</h3><p class="bad">No data disk was compared.</p>';
  const rows = fb.dataProof.map(
    (d) =>
      `<tr><td>${esc(d.vm)}</td><td>${esc(d.target)}</td><td>${d.secondarySeq}</td><td>${d.primarySeq}</td><td class="${d.lost > 0 ? 'bad' : 'ok'}">${d.lost}</td><td class="${d.identical ? 'ok' : 'bad'}">${yesNo(d.identical)}</td></tr>`,
  );
  return `<h3>Data proof</h3><p>Each data disk's last workload record at the secondary after shutdown, against the primary's after the final reprotect, both read offline.</p>${table(['VM', 'Disk', "Secondary's last record", "Primary's last record", 'Records lost', 'Identical'], rows)}`;
}

function bootsPart(fb: FailbackEvidence): string {
  if (fb.boots.length === 0) return '';
  const rows = fb.boots.map(
    (b) => `<tr><td>${esc(b.vm)}</td><td>${b.boots}</td><td><code>${esc(b.line)}</code></td></tr>`,
  );
  return `<h3>Boot counters at the primary</h3><p>From each guest's own ready line: one more boot per move.</p>${table(['VM', 'Boots', 'Ready line'], rows)}`;
}

function cleanupPart(fb: FailbackEvidence): string {
  const parts: string[] = [];
  if (fb.cleanup) {
    const rows = fb.cleanup.map(
      (c) =>
        `<tr><td>${esc(c.vm)}</td><td>${esc(c.site)}</td><td>${esc(c.detail)}</td><td>${c.removed.map((x) => `<code>${esc(x)}</code>`).join('<br>') || 'nothing'}</td></tr>`,
    );
    parts.push(table(['VM', 'Site', 'What was done', 'Removed'], rows));
  }
  if (fb.bitmapsRemoved) {
    parts.push(
      `<p>Reprotect bitmaps removed from the primary's disks: ${
        fb.bitmapsRemoved.length === 0
          ? 'none were there'
          : fb.bitmapsRemoved
              .map((b) => `${esc(b.vm)}/${esc(b.target)} <code>${esc(b.bitmap)}</code>`)
              .join(', ')
      }.</p>`,
    );
  }
  if (fb.protectionResumed)
    parts.push(
      `<p>Protection Schedules resumed: ${fb.protectionResumed.length ? fb.protectionResumed.map(esc).join(', ') : 'none were paused'}.</p>`,
    );
  if (fb.cleanupError) parts.push(`<p class="bad">Not cleaned up: ${esc(fb.cleanupError)}</p>`);
  if (fb.secondaryRestarted?.length)
    parts.push(
      `<p class="other">Restarted at the secondary by the rollback: ${fb.secondaryRestarted.map(esc).join(', ')}.</p>`,
    );
  return parts.length ? `<h3>After the move</h3>${parts.join('')}` : '';
}

/** Empty unless the evidence is a failback's and holds its facts. */
export function failbackSection(ev: Evidence): string {
  if (ev.type !== 'failback' || !ev.failback) return '';
  const fb = ev.failback;
  return `<section id="failback"><h2>Failback</h2>${factsPart(fb)}${shutdownPart(fb)}${reprotectPart(fb)}${proofPart(fb)}${bootsPart(fb)}${cleanupPart(fb)}</section>`;
}
