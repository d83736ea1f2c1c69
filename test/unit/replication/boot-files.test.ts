import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { domainBootFiles, exportBootFiles } from '../../../replication/export/boot-files.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-boot-'));
const kernel = path.join(dir, 'vmlinuz');
const initrd = path.join(dir, 'init & rd.gz');
writeFileSync(kernel, 'kernel bytes');
writeFileSync(initrd, 'initrd bytes');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const xml = `<domain type='qemu'><name>vm</name><os><type arch='x86_64'>hvm</type>
  <kernel>${kernel}</kernel><initrd>${initrd.replace('&', '&amp;')}</initrd><cmdline>console=ttyS0</cmdline>
</os><devices/></domain>`;

describe('boot files', () => {
  it('reads the direct-boot files of a domain, and none of one that boots from its disks', () => {
    expect(domainBootFiles(xml)).toEqual([
      { role: 'kernel', path: kernel },
      { role: 'initrd', path: initrd },
    ]);
    expect(domainBootFiles("<domain><os><type>hvm</type><boot dev='hd'/></os></domain>")).toEqual([]);
  });

  it('ships a file the base point lacks or holds with other bytes, and links one it holds', async () => {
    const first = await exportBootFiles(xml, null);
    expect(first).toEqual([
      { role: 'kernel', file: 'boot-kernel', sha256: sha('kernel bytes'), size: 12, source: kernel },
      { role: 'initrd', file: 'boot-initrd', sha256: sha('initrd bytes'), size: 12, source: initrd },
    ]);
    const base = {
      pointId: 'p1',
      bootFiles: [
        { role: 'kernel', path: 'boot-kernel', sha256: sha('kernel bytes'), size: 12 },
        { role: 'initrd', path: 'boot-initrd', sha256: sha('older initrd'), size: 12 },
      ],
    };
    const next = await exportBootFiles(xml, base);
    expect(next.map((b) => [b.role, b.fromPointId])).toEqual([
      ['kernel', 'p1'],
      ['initrd', undefined],
    ]);
  });
});
