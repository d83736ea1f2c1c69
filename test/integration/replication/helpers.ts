/** Shared set-up for the replication integration tests: real qemu-img/qemu-io images. */
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, createOverlay } from '../../../replication/chain.ts';
import { runProcess } from '../../../replication/exec.ts';
import type { CommitInput } from '../../../replication/store.ts';

export const MiB = 1024 * 1024;

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `lifeboat-${prefix}-`));
}

/** Runs qemu-io commands (e.g. `write -P 0xab 1M 2M`) against an image; throws on failure. */
export async function qemuIo(image: string, commands: string[]): Promise<void> {
  const args = ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), image];
  const r = await runProcess('qemu-io', args);
  if (r.exitCode !== 0 || /error|failed/i.test(r.stdout + r.stderr)) {
    throw new Error(`qemu-io ${commands.join('; ')} on ${image}: ${r.stdout}${r.stderr}`);
  }
}

export interface SourceChain {
  dir: string;
  /** Full copy at the first checkpoint. */
  full: string;
  /** Changes since then, with an ABSOLUTE backing path like libvirt's (the live disk). */
  inc: string;
}

/**
 * A primary-side chain: a 64 MiB disk with patterns, then an overlay that holds only later
 * changes (overwrites, a write across a block edge, a zeroed range inside old data).
 */
export async function makeSourceChain(dir: string, opts: { dataMiB?: number } = {}): Promise<SourceChain> {
  await mkdir(dir, { recursive: true });
  const full = join(dir, 'vda.full.qcow2');
  const inc = join(dir, 'vda.inc1.qcow2');
  await createImage(full, 64 * MiB);
  await qemuIo(full, [
    'write -P 0xab 1M 2M',
    `write -P 0x11 8M ${opts.dataMiB ?? 5}M`,
    'write -P 0x22 63M 512k',
  ]);
  await createOverlay(inc, full);
  await qemuIo(inc, [
    'write -P 0xcd 2M 1M',
    'write -P 0x33 1000k 100k',
    'write -z 9M 1M',
    'write -P 0x44 40M 64k',
  ]);
  return { dir, full, inc };
}

export async function stageFile(src: string, stagingDir: string, name: string): Promise<void> {
  await copyFile(src, join(stagingDir, name));
}

const T0 = '2026-11-25T09:00:00.000Z';

export function commitInput(
  over: Partial<CommitInput> & Pick<CommitInput, 'pointId' | 'disks'>,
): CommitInput {
  return {
    vm: 'vm1',
    runbook: 'payments',
    domainXml: "<domain type='qemu'><name>vm1</name></domain>",
    consistency: { requested: 'application', achieved: 'crash', reason: 'no guest agent in this test' },
    sourceCheckpoint: `cp-${over.pointId}`,
    times: { checkpointAt: T0, transferStartedAt: T0, transferEndedAt: T0 },
    bytesShipped: 0,
    ...over,
  };
}
