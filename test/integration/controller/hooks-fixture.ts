import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A temporary hooks directory with the diamond example's `notify.sh`, which logs its arguments
 * (after `label: `, when given, so a test sees on which site a step ran) to `logFile`.
 */
export function makeHooksDir(opts: { label?: string; logFile?: string } = {}): {
  dir: string;
  logFile: string;
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-hooks-'));
  const logFile = opts.logFile ?? path.join(dir, 'notify.log');
  const script = path.join(dir, 'notify.sh');
  const prefix = opts.label === undefined ? '' : `${opts.label}: `;
  writeFileSync(script, `#!/bin/sh\nprintf '${prefix}%s\\n' "$*" >> '${logFile}'\n`);
  chmodSync(script, 0o755);
  return { dir, logFile };
}

/** One hooks directory per site, logging to one file, each line labelled with its site. */
export function makeSiteHooksDirs(): { dirs: Record<'primary' | 'secondary', string>; logFile: string } {
  const primary = makeHooksDir({ label: 'primary' });
  const secondary = makeHooksDir({ label: 'secondary', logFile: primary.logFile });
  return { dirs: { primary: primary.dir, secondary: secondary.dir }, logFile: primary.logFile };
}
