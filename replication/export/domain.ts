/**
 * What the export reads from a domain definition: its file-backed disks (target, source, format).
 * Pure string parsing of libvirt's own XML, which is regular enough for this.
 */
export interface DomainDisk {
  target: string;
  source: string;
  format: string;
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}=(['"])(.*?)\\1`).exec(tag);
  return m?.[2];
}

export function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** File disks with device='disk' (cdroms and network disks are not replicated), in XML order. */
export function domainDisks(xml: string): DomainDisk[] {
  const out: DomainDisk[] = [];
  for (const m of xml.matchAll(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g)) {
    const open = m[1] ?? '';
    const body = m[2] ?? '';
    if (attr(open, 'type') !== 'file' || (attr(open, 'device') ?? 'disk') !== 'disk') continue;
    const source = /<source\b[^>]*>/.exec(body)?.[0];
    const target = /<target\b[^>]*>/.exec(body)?.[0];
    const driver = /<driver\b[^>]*>/.exec(body)?.[0];
    const file = source ? attr(source, 'file') : undefined;
    const dev = target ? attr(target, 'dev') : undefined;
    if (file === undefined || dev === undefined) continue;
    out.push({ target: dev, source: unescapeXml(file), format: (driver && attr(driver, 'type')) ?? 'raw' });
  }
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');
}

/** A push-mode backup of `disks` into `files` (target -> path), incremental when `from` is set. */
export function backupXml(from: string | null, files: ReadonlyMap<string, string>): string {
  const disks = [...files]
    .map(
      ([target, file]) =>
        `    <disk name='${esc(target)}' backup='yes' type='file'><target file='${esc(file)}'/><driver type='qcow2'/></disk>`,
    )
    .join('\n');
  return `<domainbackup mode='push'>\n${from === null ? '' : `  <incremental>${esc(from)}</incremental>\n`}  <disks>\n${disks}\n  </disks>\n</domainbackup>\n`;
}

/** A checkpoint (a persistent dirty bitmap per disk) named `name`. */
export function checkpointXml(name: string, targets: readonly string[]): string {
  const disks = targets.map((t) => `    <disk name='${esc(t)}' checkpoint='bitmap'/>`).join('\n');
  return `<domaincheckpoint>\n  <name>${esc(name)}</name>\n  <disks>\n${disks}\n  </disks>\n</domaincheckpoint>\n`;
}
