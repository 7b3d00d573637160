// What libmagic (MAGIC_MIME_TYPE, file 5.44) says of a message's first 4096 bytes, as far as archive-core's text
// indexing can tell the difference: archive-core asks it whenever `_format` is missing, unknown or `blob`, and
// indexes the answer only when it is application/json or text/plain. libmagic's many other text types (CSV, C,
// e-mail, troff, ...) are not recognised here: such messages count as text/plain.

const SAMPLE = 4096;
const MAX_JSON_DEPTH = 500;

// libmagic's text_chars: bytes that make data binary (not text in any encoding it knows).
function isBinaryByte(b: number): boolean {
  return b <= 6 || (b >= 14 && b <= 26) || (b >= 28 && b <= 31) || b === 127;
}

// libmagic's is_json: structural, and more lenient than JSON about numbers and control characters.
function jsonValues(s: string): number {
  let at = 0;
  let values = 0;
  const ws = () => {
    while (at < s.length && " \t\n\r".includes(s[at]!)) at++;
  };
  const value = (depth: number): boolean => {
    ws();
    const c = s[at];
    if (c === undefined || depth > MAX_JSON_DEPTH) return false;
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      at++;
      ws();
      if (s[at] === close) {
        at++;
        return true;
      }
      for (;;) {
        if (c === "{") {
          ws();
          if (s[at] !== '"' || !value(depth + 1)) return false;
          ws();
          if (s[at++] !== ":") return false;
        }
        if (!value(depth + 1)) return false;
        ws();
        const next = s[at++];
        if (next === close) return true;
        if (next !== ",") return false;
      }
    }
    if (c === '"') {
      for (at++; at < s.length; at++) {
        if (s[at] === "\\") at++;
        else if (s[at] === '"') {
          at++;
          return true;
        }
      }
      return false;
    }
    const m = /^(?:-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)/.exec(s.slice(at, at + 400));
    if (m === null) return false;
    at += m[0].length;
    return true;
  };
  for (;;) {
    ws();
    if (at >= s.length) return values;
    if (!"{[".includes(s[at]!) || !value(0)) return 0;
    values++;
  }
}

/** libmagic's MIME type for `value`, reduced to what text indexing needs to know. */
export function sniffMediaType(value: Uint8Array): string {
  if (value.length === 0) return "application/x-empty";
  if (value.length === 1) return "application/octet-stream";
  const sample = value.subarray(0, SAMPLE);
  const utf16 = (sample[0] === 0xff && sample[1] === 0xfe) || (sample[0] === 0xfe && sample[1] === 0xff);
  if (utf16) return "text/plain";
  if (sample.some(isBinaryByte)) return "application/octet-stream";
  const text = new TextDecoder("latin1").decode(sample);
  const json = jsonValues(text);
  if (json === 1) return "application/json";
  if (json > 1) return "application/x-ndjson";
  if (text.startsWith("<?xml")) return "text/xml";
  if (text.startsWith("#!")) return "text/x-shellscript";
  if (/^\s*<(?:!doctype html|html)/i.test(text)) return "text/html";
  return "text/plain";
}
