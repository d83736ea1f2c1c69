import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatFinding } from '../../../runbooks/findings.ts';
import { loadRunbook } from '../../../runbooks/index.ts';

const dir = fileURLToPath(new URL('../../../runbooks/examples/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

describe('example runbooks', () => {
  it('include payments and diamond', () => {
    expect(files).toEqual(expect.arrayContaining(['payments.yaml', 'diamond.yaml']));
  });

  it.each(files)('%s validates clean and compiles', async (name) => {
    const r = await loadRunbook(`${dir}${name}`);
    expect(r.findings.map(formatFinding)).toEqual([]);
    expect(r.plan?.groups.length).toBeGreaterThan(0);
  });
});
