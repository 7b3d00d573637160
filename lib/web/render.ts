// A message's value shown by its format, as text that `html` escapes: JSON re-indented token by token (numbers,
// escapes and key order kept exactly as sent), VOEvent XML indented without parsing (no entity or DTD is ever
// expanded), GCN text as it is, anything else as a hex dump. Only the first DISPLAY_BYTES are shown; the download
// links give every byte.
import { readContainer } from "../text/avro.ts";
import { OPAQUE, type PyValue } from "../text/values.ts";

/** Bytes of a value shown on a page; the rest is downloaded. */
export const DISPLAY_BYTES = 256 * 1024;

export interface RenderedValue {
  /** How `text` shows the value. */
  kind: "json" | "xml" | "text" | "circular" | "avro" | "hex";
  text: string;
  /** Bytes left out of `text`. */
  omitted: number;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The bytes as UTF-8 text, or null when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** A header value or key for display: its UTF-8 text, or hex when it is not valid UTF-8. */
export function headerText(bytes: Uint8Array | null): { text: string; binary: boolean } {
  if (bytes === null) return { text: "(null)", binary: false };
  const text = utf8Text(bytes);
  return text === null ? { text: hexBytes(bytes), binary: true } : { text, binary: false };
}

export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** `xxd`-style lines: offset, 16 bytes in hex, the printable ASCII ones. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = bytes.subarray(at, at + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${at.toString(16).padStart(8, "0")}  ${hex}  |${ascii}|`);
  }
  return lines.join("\n");
}

/** JSON text re-indented: only whitespace outside strings changes. null when `text` is not JSON. */
export function indentJson(text: string): string | null {
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  let out = "";
  let depth = 0;
  const newline = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      const next = text.slice(i + 1).trimStart()[0];
      if (next === close) {
        out += c + close;
        i = text.indexOf(close, i + 1);
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out += newline() + c;
    } else if (c === ",") out += "," + newline();
    else if (c === ":") out += ": ";
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}

const XML_TOKEN = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<![^>]*>|<\?[\s\S]*?\?>|<\/?[^>]*>|[^<]+/g;

/** XML text, one tag a line, indented by nesting; text between a tag and its end tag stays on that line. */
export function indentXml(text: string): string {
  const tokens = text.match(XML_TOKEN) ?? [];
  const lines: string[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const pad = "  ".repeat(Math.max(0, depth));
    if (/^<\/[^>]*>$/.test(t)) {
      depth--;
      lines.push("  ".repeat(Math.max(0, depth)) + t);
    } else if (/^<[A-Za-z_]/.test(t) && !t.endsWith("/>")) {
      const body = tokens[i + 1];
      const end = tokens[i + 2];
      if (body !== undefined && !body.startsWith("<") && end !== undefined && end.startsWith("</")) {
        lines.push(pad + t + body.trim() + end);
        i += 2;
      } else {
        lines.push(pad + t);
        depth++;
      }
    } else if (t.startsWith("<")) {
      lines.push(pad + t);
    } else if (t.trim() !== "") {
      lines.push(pad + t.trim());
    }
  }
  return lines.join("\n");
}

/** The value as a page shows it; `format` is the `_format` header (hop-client's name for the kind). */
export function renderValue(value: Uint8Array, format: string | null): RenderedValue {
  const shown = value.subarray(0, DISPLAY_BYTES);
  const omitted = value.length - shown.length;
  if (omitted === 0 && (format === "avro" || isAvroContainer(value))) {
    const records = readContainer(value);
    if (records !== null) return { kind: "avro", text: records.map((r) => pyJson(r, 0)).join("\n"), omitted };
  }
  const text = format === "avro" || format === "blob" && !looksLikeText(shown) ? null : utf8Text(shown);
  if (text !== null && omitted === 0) {
    const email = format === "circular" ? circularText(text) : null;
    if (email !== null) return { kind: "circular", text: email, omitted };
    if (format === "json" || format === "circular" || /^\s*[[{]/.test(text)) {
      const json = indentJson(text);
      if (json !== null) return { kind: "json", text: json, omitted };
    }
    if (format === "voevent" || /^\s*<\?xml|^\s*<voe:VOEvent/.test(text)) {
      return { kind: "xml", text: indentXml(text), omitted };
    }
  }
  if (text !== null && looksLikeText(shown)) return { kind: "text", text, omitted };
  return { kind: "hex", text: hexDump(shown), omitted };
}

/**
 * A GCN circular as hop-client sends it (JSON of the e-mail: `header` fields and `body`) as the e-mail's text:
 * header lines, a blank line, the body. null when the value is not of that shape.
 */
export function circularText(text: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const doc = parsed as { header?: unknown; body?: unknown } | null;
  if (doc === null || typeof doc !== "object" || typeof doc.body !== "string") return null;
  const header = doc.header !== null && typeof doc.header === "object"
    ? doc.header as Record<string, unknown>
    : {};
  const lines = Object.entries(header).map(([k, v]) =>
    `${k.toUpperCase()}: ${typeof v === "string" ? v : JSON.stringify(v)}`
  );
  return `${lines.join("\n")}${lines.length > 0 ? "\n\n" : ""}${doc.body}`;
}

const isAvroContainer = (v: Uint8Array) => v[0] === 0x4f && v[1] === 0x62 && v[2] === 0x6a && v[3] === 0x01;

/**
 * A decoded Avro value (lib/text/avro.ts: what fastavro returns) as indented JSON; numbers as Python prints them,
 * bytes as a placeholder. Nesting is bounded by the decoder.
 */
export function pyJson(v: PyValue, depth: number): string {
  const pad = "  ".repeat(depth + 1);
  const end = "  ".repeat(depth);
  if (v === null) return "null";
  if (v === OPAQUE) return '"(bytes)"';
  if (typeof v === "boolean") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) {
    return v.length === 0 ? "[]" : `[\n${v.map((x) => pad + pyJson(x, depth + 1)).join(",\n")}\n${end}]`;
  }
  if (v instanceof Map) {
    const entries = [...v].map(([k, x]) => `${pad}${JSON.stringify(k)}: ${pyJson(x, depth + 1)}`);
    return entries.length === 0 ? "{}" : `{\n${entries.join(",\n")}\n${end}}`;
  }
  return v.pyStr;
}

/** Mostly printable: text, not a binary that happens to be valid UTF-8. */
function looksLikeText(bytes: Uint8Array): boolean {
  let control = 0;
  for (const b of bytes) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) control++;
  return control <= bytes.length / 100;
}
