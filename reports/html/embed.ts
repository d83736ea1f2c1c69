/**
 * The signed report file, embedded at the end of its page byte for byte, so the page alone can be
 * verified. Up to EMBED_PLAIN_MAX it is the JSON itself (escaped for a script block); a larger
 * one (a 10,000-VM drill's evidence is tens of MB) is gzip + base64 of the same bytes, marked
 * `data-encoding="gzip+base64"`, so the page stays small enough to send and open.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { jsonForScript, jsonFromScript } from './escape.ts';

export const EMBED_PLAIN_MAX = 1024 * 1024;
export const EMBED_OPEN_PREFIX = '<script type="application/json" id="lifeboat-evidence"';

export function embedBlock(fileText: string): string {
  if (Buffer.byteLength(fileText) <= EMBED_PLAIN_MAX) {
    return `${EMBED_OPEN_PREFIX}>${jsonForScript(fileText)}</script>`;
  }
  const packed = gzipSync(Buffer.from(fileText), { level: 9 }).toString('base64');
  return `${EMBED_OPEN_PREFIX} data-encoding="gzip+base64">"${packed}"</script>`;
}

/** The page up to its embedded report: what a person sees. */
export function visiblePart(html: string): string {
  const at = html.lastIndexOf(EMBED_OPEN_PREFIX);
  return at < 0 ? html : html.slice(0, at);
}

/** The embedded report file's text, or why it cannot be read. */
export function embeddedText(html: string): { text: string } | { problem: string } {
  const at = html.lastIndexOf(EMBED_OPEN_PREFIX);
  if (at < 0) return { problem: 'the page embeds no signed report' };
  const open = html.indexOf('>', at);
  const close = html.indexOf('</script>', open);
  if (open < 0 || close < 0) return { problem: 'the embedded report is cut short' };
  const attrs = html.slice(at + EMBED_OPEN_PREFIX.length, open);
  const body = html.slice(open + 1, close);
  if (attrs === '') return { text: jsonFromScript(body) };
  if (attrs !== ' data-encoding="gzip+base64"')
    return { problem: 'the embedded report has an unknown encoding' };
  try {
    const b64 = JSON.parse(body) as unknown;
    if (typeof b64 !== 'string') return { problem: 'the embedded report is not a base64 string' };
    return { text: gunzipSync(Buffer.from(b64, 'base64')).toString('utf8') };
  } catch {
    return { problem: 'the embedded report cannot be decompressed' };
  }
}
