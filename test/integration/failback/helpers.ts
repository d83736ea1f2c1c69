/**
 * What the reprotect and failback lab tests share: waiting on an operation, the secondary's
 * virsh and qemu-img (inside its namespaces, where the overlays' backing paths resolve), and
 * the guest-visible comparison of a disk at each site.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { hostUri } from '../../../lab/config.ts';
import { siteCommand } from '../../../lab/exec.ts';
import { progressQuery } from '../../../workflows/messages.ts';
import type { CycleLab } from '../replication-cycle/harness.ts';

const pexec = promisify(execFile);

export async function virshAt(site: 'primary' | 'secondary', args: string[]): Promise<string> {
  const { stdout } = await pexec('virsh', ['-q', '-c', hostUri(site), ...args], { timeout: 60_000 });
  return stdout.trim();
}

export async function stateAt(site: 'primary' | 'secondary', vm: string): Promise<string | undefined> {
  return virshAt(site, ['domstate', vm]).catch(() => undefined);
}

/** Runs argv inside a site's namespaces; resolves with exit code and output. */
export async function inSite(
  site: 'primary' | 'secondary',
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...args] = siteCommand(site, argv);
  try {
    const r = await pexec(cmd as string, args, { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    };
  }
}

/** Bytes a layer holds itself (depth 0 of `qemu-img map`), read inside the site. */
export async function layerBytes(site: 'primary' | 'secondary', image: string): Promise<number> {
  const r = await inSite(site, ['qemu-img', 'map', '-U', '--output=json', image]);
  if (r.code !== 0) throw new Error(`qemu-img map ${image}: ${r.stderr}`);
  const entries = JSON.parse(r.stdout) as Array<{
    length: number;
    depth: number;
    data: boolean;
    zero: boolean;
  }>;
  return entries.filter((e) => e.depth === 0).reduce((n, e) => n + e.length, 0);
}

export async function shutOff(site: 'primary' | 'secondary', vm: string): Promise<void> {
  await virshAt(site, ['shutdown', vm, '--mode', 'agent']).catch(() => undefined);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if ((await stateAt(site, vm)) === 'shut off') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  await virshAt(site, ['destroy', vm]);
}

export function lastAckIn(file: string): number {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  let last = 0;
  for (const m of text.matchAll(/^LBACK vm=\S+ seq=(\d+)/gm)) last = Math.max(last, Number(m[1]));
  return last;
}

export async function waitState(lab: CycleLab, id: string, state: string, timeoutMs: number): Promise<void> {
  const handle = lab.client.workflow.getHandle(id);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p?.state === state) return;
    if (p && ['failed', 'rolled-back', 'cancelled', 'succeeded'].includes(p.state))
      throw new Error(`${id} ended ${p.state}: ${p.error}`);
    last = p ? `${p.state} ${Object.values(p.groups).map((g) => `${g.name}:${g.step ?? g.state}`)}` : last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${id} not ${state} within ${timeoutMs} ms (last: ${last})`);
}
