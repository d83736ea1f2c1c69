/**
 * The files a domain boots from outside its disks (direct kernel boot: `<kernel>`, `<initrd>`,
 * `<dtb>`), which a failover needs at the secondary when the primary is gone. Each point records
 * them by digest; a file the base point already holds with the same digest is not shipped again
 * but linked from that point at the secondary, so an incremental cycle costs no boot bytes.
 */
import { stat } from 'node:fs/promises';
import { sha256File } from '../fsutil.ts';
import type { Manifest } from '../manifest.ts';
import { unescapeXml } from './domain.ts';

export const BOOT_ROLES = ['kernel', 'initrd', 'dtb'] as const;
export type BootRole = (typeof BOOT_ROLES)[number];

/** A boot file as a committed point records it (its path inside the point's directory). */
export type PointBootFile = Manifest['domain']['bootFiles'][number];

/** A boot file of an export: shipped over the link, or linked from the base point's copy. */
export interface ExportedBootFile {
  role: BootRole;
  /** Its name inside the point's directory (`boot-<role>`). */
  file: string;
  sha256: string;
  size: number;
  /** Where the primary read it (shipped files are served from there). */
  source: string;
  /** Set when the base point holds the same bytes: the secondary links them, nothing is shipped. */
  fromPointId?: string;
}

/** The domain's direct-boot files, in role order (none for a VM that boots from its disks). */
export function domainBootFiles(xml: string): { role: BootRole; path: string }[] {
  const os = /<os\b[^>]*>([\s\S]*?)<\/os>/.exec(xml)?.[1] ?? '';
  const out: { role: BootRole; path: string }[] = [];
  for (const role of BOOT_ROLES) {
    const path = new RegExp(`<${role}>([^<]+)</${role}>`).exec(os)?.[1]?.trim();
    if (path) out.push({ role, path: unescapeXml(path) });
  }
  return out;
}

/** Digests the domain's boot files and decides, per file, whether the base point has it already. */
export async function exportBootFiles(
  domainXml: string,
  base: { pointId: string; bootFiles?: readonly PointBootFile[] } | null,
): Promise<ExportedBootFile[]> {
  const out: ExportedBootFile[] = [];
  for (const { role, path } of domainBootFiles(domainXml)) {
    const digest = await bootFileDigest(path);
    const same = base?.bootFiles?.some((b) => b.role === role && b.sha256 === digest.sha256);
    out.push({
      role,
      file: `boot-${role}`,
      ...digest,
      source: path,
      ...(same && base ? { fromPointId: base.pointId } : {}),
    });
  }
  return out;
}

/**
 * Every cycle of every VM digests the same few boot files, which rarely change: the digest is
 * kept per file version (inode, size, modification and change times; the change time cannot be
 * set back by hand), so a cycle rereads a kernel only after it was replaced.
 */
const digests = new Map<string, { version: string; sha256: string; size: number }>();

async function bootFileDigest(path: string): Promise<{ sha256: string; size: number }> {
  const s = await stat(path, { bigint: true });
  const version = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  const known = digests.get(path);
  if (known?.version === version) return { sha256: known.sha256, size: known.size };
  const digest = await sha256File(path);
  digests.set(path, { version, ...digest });
  return digest;
}
