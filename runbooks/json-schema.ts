import { runbookJsonSchema } from './schema.ts';

/** The exact text of the committed runbook.schema.json; the unit test compares it. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(runbookJsonSchema(), null, 2)}\n`;
}
