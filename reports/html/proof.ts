/** The report's proof sections: approvals, isolation, cleanup, deviations, auditors' map, signature. */
import type { ReportEnvelope } from '../envelope.ts';
import type { Evidence, FileDigest } from '../evidence.ts';
import { esc } from './escape.ts';
import { tone, yesNo } from './format.ts';
import { FOLD_ABOVE_VMS, vmCount } from './sections.ts';

export function approvalsSection(ev: Evidence): string {
  if (ev.approvals.length === 0)
    return '<section id="approvals"><h2>Approvals</h2><p>No gate asked for an approval.</p></section>';
  const rows = ev.approvals.map(
    (a) =>
      `<tr><td>${esc(a.stepId)}</td><td>${esc(a.group)}</td><td class="${tone(a.decision)}">${esc(a.decision)}</td><td>${esc(a.operator)}</td><td>${esc(a.role)}</td><td>${esc(a.reason)}</td><td>${esc(a.signedAt)}</td><td>${esc(a.recordedAt)}</td><td class="${a.signatureVerified ? 'ok' : 'bad'}">${a.signatureVerified ? 'verified' : 'NOT verified'}</td></tr>`,
  );
  return `<section id="approvals"><h2>Approvals</h2><table><thead><tr><th>Gate</th><th>Group</th><th>Decision</th><th>Operator</th><th>Role</th><th>Reason</th><th>Signed</th><th>Recorded</th><th>Ed25519 signature</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

export function isolationSection(ev: Evidence): string {
  // A failover's VMs are production: nothing is isolated or torn down (see the failover section).
  if (ev.type === 'failover' && ev.isolation.length === 0)
    return '<section id="isolation"><h2>Isolation probe</h2><p>None: a failover starts production VMs on the production network.</p></section>';
  const fold = vmCount(ev) > FOLD_ABOVE_VMS;
  const isolated = ev.isolation.filter((p) => p.outcome === 'isolated').length;
  const summary = `<p>${ev.isolation.length} probes: ${isolated} isolated, ${ev.isolation.length - isolated} not.</p>`;
  const shown = fold ? ev.isolation.filter((p) => p.outcome !== 'isolated') : ev.isolation;
  const rows = shown.map(
    (p) =>
      `<tr><td>${esc(p.vm)}</td><td>${esc(p.domain)}</td><td>${esc(p.target)}</td><td>${esc(p.method)}</td><td class="${tone(p.outcome)}">${esc(p.outcome)}</td><td>${esc(p.detail)}</td><td>${esc(p.at)}</td></tr>`,
  );
  const table = rows.length
    ? `<table><thead><tr><th>VM</th><th>Copy</th><th>Production address probed</th><th>Method</th><th>Outcome</th><th>Detail</th><th>At</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : '';
  return `<section id="isolation"><h2>Isolation probe</h2>${summary}${fold && rows.length === 0 ? '<p class="note">Every copy was isolated.</p>' : ''}${table}</section>`;
}

function digestRows(before: FileDigest[], after: FileDigest[], onlyChanged: boolean): string[] {
  const key = (d: FileDigest) => `${d.vm}\u0000${d.pointId}\u0000${d.file}`;
  const afterBy = new Map(after.map((d) => [key(d), d]));
  const rows: string[] = [];
  for (const b of before) {
    const a = afterBy.get(key(b));
    const same = a !== undefined && a.sha256 === b.sha256 && a.size === b.size;
    if (onlyChanged && same) continue;
    rows.push(
      `<tr><td>${esc(b.vm)}</td><td>${esc(b.file)}</td><td><code>${esc(b.sha256)}</code></td><td><code>${esc(a?.sha256 ?? 'missing')}</code></td><td class="${same ? 'ok' : 'bad'}">${same ? 'unchanged' : 'CHANGED'}</td></tr>`,
    );
  }
  return rows;
}

export function cleanupSection(ev: Evidence): string {
  const fold = vmCount(ev) > FOLD_ABOVE_VMS;
  const t = ev.teardown;
  if (ev.type === 'failover' && !t && !ev.replicaIntegrity)
    return '<section id="cleanup"><h2>Cleanup</h2><p>None: a failover\'s VMs stay in production (a rollback\'s restarts are in the failover section).</p></section>';
  const facts = t
    ? `<p>Teardown ${t.proven ? '<span class="ok">proven</span>' : '<span class="bad">NOT proven</span>'} at ${esc(t.at)}.</p><table><thead><tr><th>Fact</th><th>Holds</th><th>Detail</th></tr></thead><tbody>${t.facts.map((f) => `<tr><td>${esc(f.fact)}</td><td class="${f.holds ? 'ok' : 'bad'}">${yesNo(f.holds)}</td><td>${esc(f.detail)}</td></tr>`).join('')}</tbody></table>`
    : '<p class="bad">No teardown proof was recorded.</p>';
  const ri = ev.replicaIntegrity;
  let digests = '<p>No replica digests were recorded.</p>';
  if (ri) {
    const rows = digestRows(ri.before, ri.after, fold);
    digests = `<h3>Replica digests before and after</h3><p>${ri.before.length} files digested before, ${ri.after.length} after; replicas unchanged: <span class="${ri.unchanged ? 'ok' : 'bad'}">${yesNo(ri.unchanged)}</span>.</p>${fold && rows.length === 0 ? '<p class="note">Every digest matched.</p>' : ''}${rows.length ? `<table><thead><tr><th>VM</th><th>File</th><th>sha256 before</th><th>sha256 after</th><th>Result</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : ''}`;
  }
  return `<section id="cleanup"><h2>Cleanup</h2>${facts}${digests}</section>`;
}

export function deviationsSection(ev: Evidence): string {
  const body = ev.deviations.length
    ? `<table><thead><tr><th>What</th><th>Why</th><th>At</th></tr></thead><tbody>${ev.deviations.map((d) => `<tr><td>${esc(d.what)}</td><td>${esc(d.reason)}</td><td>${esc(d.at ?? '')}</td></tr>`).join('')}</tbody></table>`
    : '<p>None: the operation ran as planned.</p>';
  return `<section id="deviations"><h2>Deviations</h2>${body}</section>`;
}

const AUDIT_MAP: Array<[string, string, string]> = [
  [
    'ISO 22301:2019, clause 8.5 (exercise programme)',
    'Exercises consistent with the continuity objectives, based on scenarios, with a post-exercise report of outcomes and actions.',
    'Verdict, Objectives, Timeline, Deviations; the signed record itself is the post-exercise report.',
  ],
  [
    'SOC 2 (2017 TSC), A1.3',
    'Recovery plan procedures supporting system recovery are tested to meet objectives.',
    'Objectives (RTO and RPO target vs measured), Checks, Groups and VMs, Approvals.',
  ],
  [
    'NIST SP 800-53 Rev. 5, CP-4 (contingency plan testing)',
    'Test the plan to determine its effectiveness, review the results, and initiate corrective actions.',
    'Checks with their output, Objectives, Deviations and verdict reasons; the report history (index) across runs.',
  ],
  [
    'DORA (EU 2022/2554), Art. 11 (response and recovery)',
    'ICT business continuity and response and recovery plans are tested regularly, and the tests recorded.',
    'Verdict, Objectives, Timeline, Approvals, the signed and chained report history.',
  ],
  [
    'DORA (EU 2022/2554), Art. 12 (backup, restoration and recovery)',
    'Restoration from backups is tested, on systems segregated from the source, without harming the backups.',
    'Recovery point set (Objectives), Isolation probe, Cleanup: teardown facts and replica digests before and after.',
  ],
];

export function complianceSection(): string {
  const rows = AUDIT_MAP.map(
    ([ref, asks, where]) => `<tr><th scope="row">${ref}</th><td>${asks}</td><td>${where}</td></tr>`,
  );
  return `<section id="compliance"><h2>What auditors cite</h2><table><thead><tr><th>Reference</th><th>What it asks for</th><th>Where this report shows it</th></tr></thead><tbody>${rows.join('')}</tbody></table><p class="note">A guide to where the evidence is, not a statement of compliance: the assessor decides.</p></section>`;
}

export function signatureSection(env: ReportEnvelope, fileSha256: string): string {
  const prev = env.previous
    ? `${esc(env.previous.id)} <code>${esc(env.previous.sha256)}</code>`
    : 'none: the first report of this runbook';
  return `<section id="signature"><h2>Signature and chain</h2><dl class="facts"><dt>Report</dt><dd>${esc(env.id)}</dd><dt>Report file sha256</dt><dd><code>${fileSha256}</code></dd><dt>Evidence sha256</dt><dd><code>${esc(env.evidenceSha256)}</code></dd><dt>Previous report</dt><dd>${prev}</dd><dt>Signed</dt><dd>${esc(env.signedAt)}</dd><dt>Key fingerprint</dt><dd><code>${esc(env.key.fingerprint)}</code></dd><dt>Public key</dt><dd><code>${esc(env.key.publicKey)}</code></dd><dt>Signature</dt><dd><code class="wrap">${esc(env.signature)}</code></dd></dl><p>The signed report is embedded at the end of this page, byte for byte. Check the signature, the chain and this page with <code>lifeboat report verify</code>.</p></section>`;
}
