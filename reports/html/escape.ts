/** Escaping for text that comes from evidence: it is data, and may be hostile. */
const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** For element content and quoted attribute values. */
export function esc(text: string | number | boolean | undefined | null): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => HTML[c] as string);
}

/**
 * JSON placed inside a `<script type="application/json">`: every `<`, `>` and `&` becomes a
 * JSON unicode escape, so no `</script>` or `<!--` can end or bend the block; JSON.parse reads
 * it back unchanged. U+2028/2029 are escaped for old JavaScript parsers.
 */
export function jsonForScript(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Undoes jsonForScript (only its escapes; any other `\u` sequence is left as written). */
export function jsonFromScript(text: string): string {
  return text.replace(/\\u(003c|003e|0026|2028|2029)/g, (_, h: string) =>
    String.fromCharCode(Number.parseInt(h, 16)),
  );
}
