/** Regenerates runbooks/runbook.schema.json from the zod schema: `npx tsx runbooks/gen-schema.ts`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderJsonSchema } from './json-schema.ts';

const target = fileURLToPath(new URL('./runbook.schema.json', import.meta.url));
writeFileSync(target, renderJsonSchema());
process.stdout.write(`wrote ${target}\n`);
