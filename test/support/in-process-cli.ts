/**
 * The `lifeboat` CLI run in the test's own process (its `main`), so it talks to the harness's
 * Temporal server; each run's stdout and stderr are captured, and alice's example key (see
 * diamond.yaml) waits in a fresh operator directory, as `operator init` would write it.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, vi } from 'vitest';
import { bytesToBase64 } from '../../approvals/encoding.ts';
import { main } from '../../cli/main.ts';
import { ALICE_SECRET } from './plans.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InProcessCli {
  /** Runs `lifeboat ...args`; what it wrote is this run's alone. */
  run(...args: string[]): Promise<CliRun>;
  /** The current test's LIFEBOAT_OPERATOR_DIR. */
  operatorDir(): string;
}

/** Call at a test file's top level: it sets the CLI up before each test and tears it down after. */
export function useInProcessCli(): InProcessCli {
  let out: string[] = [];
  let err: string[] = [];
  let operatorDir = '';
  beforeEach(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      err.push(String(s));
      return true;
    });
    operatorDir = mkdtempSync(path.join(tmpdir(), 'lifeboat-operators-'));
    process.env.LIFEBOAT_OPERATOR_DIR = operatorDir;
    const file = path.join(operatorDir, 'alice.key');
    writeFileSync(file, JSON.stringify({ name: 'alice', secretKey: bytesToBase64(ALICE_SECRET) }));
    chmodSync(file, 0o600);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    delete process.env.LIFEBOAT_OPERATOR_DIR;
  });
  return {
    run: async (...args) => {
      out = [];
      err = [];
      const code = await main(['node', 'lifeboat', ...args]);
      process.exitCode = undefined;
      return { code, stdout: out.join(''), stderr: err.join('') };
    },
    operatorDir: () => operatorDir,
  };
}
