/** A temporary hooks directory with the diamond example's `notify.sh`, which logs its arguments. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function makeHooksDir(): { dir: string; logFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-hooks-'));
  const logFile = path.join(dir, 'notify.log');
  const script = path.join(dir, 'notify.sh');
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${logFile}'\n`);
  chmodSync(script, 0o755);
  return { dir, logFile };
}
