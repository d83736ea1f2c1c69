/**
 * virsh for the export, against one libvirt URI: argv arrays only, a bound on every call,
 * failures as ExportError values.
 */
import { runProcess } from '../exec.ts';
import { ExportError } from './errors.ts';
import type { LibvirtSession } from './libvirt-session.ts';

export interface VirshTarget {
  uri: string;
  /** Per-call bound (ms). */
  timeoutMs?: number;
  /** The same URI's long-lived connection: the questions and checkpoint metadata go there. */
  session: LibvirtSession;
}

export async function tryVirsh(
  t: VirshTarget,
  args: readonly string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runProcess('virsh', ['-q', '-c', t.uri, ...args], { timeoutMs: t.timeoutMs ?? 60_000 });
}

export async function virsh(
  t: VirshTarget,
  args: readonly string[],
  context: Record<string, unknown> = {},
): Promise<string> {
  const r = await tryVirsh(t, args);
  if (r.exitCode !== 0) {
    const notFound = /failed to get domain|Domain not found/i.test(r.stderr);
    throw new ExportError({
      code: notFound ? 'DOMAIN_NOT_FOUND' : 'VIRSH_FAILED',
      message: `virsh ${args[0] ?? ''} failed: ${r.stderr.trim()}`,
      context: { ...context, args: [...args], uri: t.uri },
      hint: notFound ? 'is the VM defined on the primary site?' : 'see the libvirt log of the site',
      retryable: !notFound,
    });
  }
  return r.stdout;
}
