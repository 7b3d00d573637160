// What goes into a response header. Deno's HTTP server panics (and the process exits) when a header value holds a
// control byte, and the Response constructor throws on a character above U+00FF: any text from a request or from
// the archive must be made safe before it becomes a header, and one last check sees every answer before Deno does.

// C0 controls but tab, DEL, and the C1 range: hyper refuses the first two; C1 bytes are legal obs-text on the wire
// but no client shows them sensibly.
// deno-lint-ignore no-control-regex
const UNSAFE_BYTES = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;
// Controls, and the marks that reorder or hide text (U+202E shows "evil\u202Etxt.exe" as "evilexe.txt"): a download
// name must read as what it is.
const UNSHOWABLE = /[\p{Cc}\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;
// RFC 8187's attr-char: what may stand unencoded in filename*=UTF-8''...
const ATTR_CHAR = /[A-Za-z0-9!#$&+.^_`|~-]/;
const MAX_NAME_CHARS = 255;

/** True when `value` can be sent as a header value by Deno as it is. */
export function isSafeHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0xff) return false;
  }
  return !UNSAFE_BYTES.test(value);
}

function percentEncode(text: string): string {
  let out = "";
  for (const ch of text) {
    if (ATTR_CHAR.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch)) {
      out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/**
 * Content-Disposition for a download named `name` (from the URL: anything at all). Controls and reordering marks
 * become "_"; a plain ASCII name goes in `filename="..."`, any other also in RFC 6266's `filename*=UTF-8''...`
 * with an ASCII fallback for clients that ignore it.
 */
export function contentDisposition(name: string): string {
  const shown = [...name.toWellFormed().replace(UNSHOWABLE, "_")].slice(0, MAX_NAME_CHARS).join("") || "_";
  const ascii = shown.replace(/[^\x20-\x7e]/gu, "_").replace(/["\\]/g, "_");
  if (ascii === shown) return `attachment; filename="${ascii}"`;
  return `attachment; filename="${ascii}"; filename*=UTF-8''${percentEncode(shown)}`;
}

/** The name of the first header of `resp` Deno could not send, or null when every one is safe. */
export function unsafeHeader(resp: Response): string | null {
  for (const [name, value] of resp.headers) {
    if (!isSafeHeaderValue(value)) return name;
  }
  return null;
}
