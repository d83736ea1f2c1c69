import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderJsonSchema } from '../../../runbooks/json-schema.ts';
import { ONE_GROUP, runbookText } from './fixtures.ts';

describe('runbooks/runbook.schema.json', () => {
  it('is what the zod schema generates (regenerate: npx tsx runbooks/gen-schema.ts)', () => {
    const committed = readFileSync(new URL('../../../runbooks/runbook.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(renderJsonSchema());
  });

  it('describes the public keys and forbids unknown ones', () => {
    const schema = JSON.parse(renderJsonSchema()) as {
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'apiVersion',
        'kind',
        'metadata',
        'objectives',
        'sites',
        'replication',
        'groups',
      ]),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['apiVersion', 'groups']));
    expect(schema.additionalProperties).toBe(false);
  });
});

describe('the JSON Schema an editor uses', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(renderJsonSchema()) as object);
  const examplesDir = new URL('../../../runbooks/examples/', import.meta.url);

  it.each(readdirSync(examplesDir).filter((f) => f.endsWith('.yaml')))('accepts the example %s', (name) => {
    const value: unknown = parse(readFileSync(new URL(name, examplesDir), 'utf8'));
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
  });

  it('flags a misspelt key, a bad duration and a bad key as an editor would', () => {
    const text = runbookText(ONE_GROUP, {
      objectives: 'objectives: { rpo: 5 min, rto: 1h }',
      operators: 'operators: { alice: { key: "ed25519:AAAA" } }',
      extra: 'drils: {}',
    });
    expect(validate(parse(text))).toBe(false);
    const paths = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/objectives/rpo pattern',
        '/operators/alice/key pattern',
        ' additionalProperties',
      ]),
    );
  });
});
