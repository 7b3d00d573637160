// The one way archived content reaches a page. `html` is a tagged template whose every interpolation is escaped by
// `escapeHtml` unless it is itself `html` (already safe), so a page cannot forget to escape: a string, a number or
// an array of either is text, never markup. Values here come from the wire or a request: hostile until escaped.

/** Markup made here (by `html` or `raw`), which `html` inserts as it is. */
export interface Safe {
  readonly __safe: string;
}

export type Interpolation =
  | Safe
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | readonly Interpolation[];

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

// C0 controls other than tab, line feed and carriage return; DEL and the C1 controls; the bidi embeddings, overrides
// and isolates and the invisible marks that can make text read in another order than it is stored (RLO in a file
// name, "trojan source"); and U+FFFE/U+FFFF, noncharacters. Each is shown as a visible code point, never obeyed.
const INVISIBLE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffe\uffff]/gu;

/**
 * Text as HTML that shows exactly that text: the five markup characters as entities (safe in element content and in
 * quoted attribute values alike), and invisible or reordering characters as a visible `U+XXXX` mark.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!).replace(
    INVISIBLE,
    (c) => `<span class="ctl">U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}</span>`,
  );
}

/** Text for an attribute value: escaped like content, but control characters as their code (no markup inside). */
export function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!).replace(
    INVISIBLE,
    (c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`,
  );
}

const safe = (s: string): Safe => ({ __safe: s });

/** Markup this program wrote itself (never anything received). */
export function raw(markup: string): Safe {
  return safe(markup);
}

function isSafe(v: unknown): v is Safe {
  return typeof v === "object" && v !== null && "__safe" in v;
}

function render(value: Interpolation, inAttribute: boolean): string {
  if (value === null || value === undefined || value === false) return "";
  if (isSafe(value)) return value.__safe;
  if (Array.isArray(value)) return value.map((v) => render(v, inAttribute)).join("");
  const text = String(value);
  return inAttribute ? escapeAttribute(text) : escapeHtml(text);
}

/**
 * `html\`<p title="${t}">${body}</p>\``: every interpolation escaped. An interpolation right after `="` is an
 * attribute value (escaped without markup); templates put attribute values in double quotes only.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Safe {
  let out = strings[0]!;
  let inAttribute = false;
  for (let i = 0; i < values.length; i++) {
    const before = strings[i]!;
    // Inside a quoted value: one opened in this piece and not closed, or one still open from the last piece.
    inAttribute = /="[^"]*$/.test(before) || (inAttribute && !before.includes('"'));
    out += render(values[i]!, inAttribute) + strings[i + 1]!;
  }
  return safe(out);
}

/** A URL path segment from any text (a topic name, a UUID), percent-encoded; escaped again when interpolated. */
export function pathSegment(text: string): string {
  return encodeURIComponent(text);
}
