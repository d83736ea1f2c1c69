import { execFile } from 'node:child_process';
import { ReplicationError, type ReplicationErrorCode } from './errors.ts';

export interface ProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program with an argument array (never a shell) and returns its exit code and output.
 * A non-zero exit is returned, not thrown, because several qemu-img commands use exit codes
 * as answers (compare: 1 = different; check: 3 = leaked clusters only).
 */
export function runProcess(
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; errorCode?: ReplicationErrorCode } = {},
): Promise<ProcessResult> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ exitCode: 0, stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
        if (typeof e.code === 'number') {
          resolve({ exitCode: e.code, stdout, stderr });
          return;
        }
        const timedOut = e.killed === true;
        reject(
          new ReplicationError({
            code: timedOut ? 'PROCESS_TIMEOUT' : (opts.errorCode ?? 'PROCESS_FAILED'),
            message: timedOut
              ? `${file} did not finish within ${timeoutMs} ms`
              : `${file} could not run: ${e.message}`,
            context: { file, args, stderr: stderr.slice(0, 2000) },
            hint: timedOut ? 'the image may be locked or the disk very slow' : `is ${file} installed?`,
            retryable: timedOut,
            cause: err,
          }),
        );
      },
    );
  });
}
