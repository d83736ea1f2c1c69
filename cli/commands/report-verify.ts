import type { Command } from 'commander';
import { lifeboatHome } from '../../platform/home.ts';
import { controllerWorkflowId } from '../../platform/names.ts';
import type { ReportKeyRef, ReportLink } from '../../reports/envelope.ts';
import { parsePublicKeyArg, pinKey, readPinnedKey } from '../../reports/key-store.ts';
import { loadVerifyTargets } from '../../reports/load.ts';
import { type HeadCheck, type VerifyResult, verifyChain } from '../../reports/verify.ts';
import { runbookStateQuery } from '../../workflows/messages.ts';
import type { RunbookState } from '../../workflows/types.ts';
import { ExitCode } from '../exit-codes.ts';
import { connectIfReachable } from '../with-client.ts';

/** The controller records the chain head here (workflows/types.ts, filled by the drill engine). */
type StateWithHead = RunbookState & { reportHead?: ReportLink };

/** Asks each runbook's controller for its report head, without starting a server. */
async function controllerHeads(runbooks: string[]): Promise<Map<string, HeadCheck>> {
  const out = new Map<string, HeadCheck>();
  const conn = await connectIfReachable();
  if ('unreachable' in conn) {
    for (const rb of runbooks) out.set(rb, { reason: `head not checked: ${conn.unreachable}` });
    return out;
  }
  try {
    for (const rb of runbooks) {
      const ask = conn.client.workflow
        .getHandle(controllerWorkflowId(rb))
        .query(runbookStateQuery) as Promise<StateWithHead>;
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref());
      const state = await Promise.race([ask, timeout]).catch(() => null);
      if (state === null) out.set(rb, { reason: `head not checked: the controller of ${rb} did not answer` });
      else if (!state.reportHead)
        out.set(rb, { reason: `head not checked: the controller of ${rb} records no report head` });
      else out.set(rb, { head: state.reportHead });
    }
  } finally {
    await conn.connection.close().catch(() => undefined);
  }
  return out;
}

function parseHeadArg(text: string): ReportLink | undefined {
  const m = /^(.+)=([0-9a-f]{64})$/.exec(text);
  return m ? { id: m[1] as string, sha256: m[2] as string } : undefined;
}

/** `lifeboat report verify <file|dir>`: signatures, chain, head and pages; exit 0 only when all hold. */
export function registerReportVerify(report: Command): void {
  report
    .command('verify')
    .description(
      'check signatures, the chain, the controller head and that each page embeds its signed report',
    )
    .argument('<path>', 'a report .json or .html, a runbook reports directory, or <home>/reports')
    .option('--key <key>', 'trust this public key (ed25519:<base64> or a file) instead of the pinned one')
    .option('--head <id=sha256>', 'compare with this head instead of asking the controller')
    .option('--json', 'machine-readable output')
    .action(async (target: string, flags: { key?: string; head?: string; json?: boolean }) => {
      const home = lifeboatHome();
      const targets = await loadVerifyTargets(target);
      let trusted: ReportKeyRef | undefined = flags.key
        ? parsePublicKeyArg(flags.key)
        : await readPinnedKey(home);
      const notes: string[] = [];
      if (!trusted) {
        const first = targets
          .flatMap((t) => t.inputs)
          .map((i) => {
            try {
              return (JSON.parse(i.text) as { key?: ReportKeyRef }).key;
            } catch {
              return undefined;
            }
          })
          .find((k) => k?.fingerprint);
        if (!first) {
          process.stderr.write(
            'lifeboat: no key to verify with: nothing pinned and no readable report; pass --key\n',
          );
          process.exitCode = ExitCode.usage;
          return;
        }
        trusted = first;
        await pinKey(home, first);
        notes.push(`pinned the report key ${first.fingerprint} in ${home} on first use`);
      }
      const headArg = flags.head ? parseHeadArg(flags.head) : undefined;
      if (flags.head && !headArg) {
        process.stderr.write('lifeboat: --head takes <id>=<sha256>\n');
        process.exitCode = ExitCode.usage;
        return;
      }
      const whole = targets.filter((t) => t.whole).map((t) => t.runbook);
      const heads = headArg
        ? new Map(whole.map((rb) => [rb, { head: headArg } as HeadCheck]))
        : await controllerHeads(whole);
      const results: Array<{ runbook: string } & VerifyResult> = [];
      for (const t of targets) {
        const head = t.whole
          ? (heads.get(t.runbook) ?? {})
          : { reason: 'head not checked: a single file was given' };
        const r = verifyChain(t.inputs, trusted, head);
        // A single file is checked on its own: its previous report is not part of the input.
        if (!t.whole) r.problems = r.problems.filter((p) => p.code !== 'CHAIN_BROKEN');
        r.ok = r.problems.length === 0;
        results.push({ runbook: t.runbook, ...r });
      }
      const ok = results.length > 0 && results.every((r) => r.ok);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ok, key: trusted, notes, runbooks: results }, null, 2)}\n`);
      } else {
        for (const n of notes) process.stderr.write(`lifeboat: ${n}\n`);
        for (const r of results) {
          const first = r.problems[0];
          process.stdout.write(
            `${r.runbook}: ${r.reports.length} report(s), key ${trusted.fingerprint}: ${r.ok ? 'OK' : `BROKEN at ${first?.file}`}\n`,
          );
          for (const p of r.problems)
            process.stdout.write(`  ${p.code}: ${p.file}: ${p.message} (${p.hint})\n`);
          process.stdout.write(
            `  ${r.headChecked ? 'controller head: checked' : (r.headReason ?? 'head not checked')}\n`,
          );
        }
        if (results.length === 0) process.stdout.write('no reports found\n');
      }
      process.exitCode = ok ? ExitCode.ok : ExitCode.failed;
    });
}
