import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { renderEvidenceJsonSchema } from '../../../reports/json-schema.ts';
import { drillEvidence } from '../../fixtures/reports/evidence.ts';

describe('reports/evidence.schema.json', () => {
  it('is what the zod schema generates (regenerate: npx tsx reports/gen-schema.ts)', () => {
    const committed = readFileSync(new URL('../../../reports/evidence.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(renderEvidenceJsonSchema());
  });

  it('accepts the fixture drill and refuses a record without a verdict', () => {
    const validate = new Ajv2020({ strict: false, logger: false }).compile(
      JSON.parse(renderEvidenceJsonSchema()) as object,
    );
    const ev = drillEvidence();
    expect(validate(ev), JSON.stringify(validate.errors)).toBe(true);
    const { verdict: _v, ...noVerdict } = ev;
    expect(validate(noVerdict)).toBe(false);
  });
});
