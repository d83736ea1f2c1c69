import type { CommandResult, RunCommand } from '../../../drivers/libvirt/exec.ts';

export interface RecordedCall {
  file: string;
  args: string[];
  timeoutMs: number;
}

/**
 * A scripted process runner: each call is answered by the first rule whose `match` accepts the
 * argv (virsh args after `-c <uri>`), and every call is recorded, so a test can assert what
 * was (or was not) spawned.
 */
export function scriptedRun(
  rules: Array<{ match: (args: string[]) => boolean; result: Partial<CommandResult> }>,
): {
  run: RunCommand;
  calls: RecordedCall[];
} {
  const calls: RecordedCall[] = [];
  const run: RunCommand = async (file, args, opts) => {
    calls.push({ file, args: [...args], timeoutMs: opts.timeoutMs });
    const verbArgs = file === 'virsh' ? args.slice(2) : [...args];
    const rule = rules.find((r) => r.match(verbArgs));
    if (!rule) throw new Error(`unexpected command: ${file} ${args.join(' ')}`);
    return { code: 0, stdout: '', stderr: '', timedOut: false, ...rule.result };
  };
  return { run, calls };
}

export const verb =
  (...words: string[]) =>
  (args: string[]): boolean =>
    words.every((w, i) => args[i] === w);
