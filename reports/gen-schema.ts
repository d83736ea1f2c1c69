/** Regenerates reports/evidence.schema.json from the zod schema: `npx tsx reports/gen-schema.ts`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderEvidenceJsonSchema } from './json-schema.ts';

const target = fileURLToPath(new URL('./evidence.schema.json', import.meta.url));
writeFileSync(target, renderEvidenceJsonSchema());
process.stdout.write(`wrote ${target}\n`);
