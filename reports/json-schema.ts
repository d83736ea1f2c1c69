import { evidenceJsonSchema } from './evidence.ts';

/** The exact text of the committed evidence.schema.json; the unit test compares it. */
export function renderEvidenceJsonSchema(): string {
  return `${JSON.stringify(evidenceJsonSchema(), null, 2)}\n`;
}
