// GCN circulars and classic text notices, as hop-client's models read them (hop/models.py GCNCircular,
// GCNTextNotice) and archive-core's extractors turn them into text. `undefined`: the Python code raises.
import { decodeUtf8, loadPythonJson } from "./json.ts";
import { pyLstrip, pySplitlines, pyStrip } from "./python.ts";
import { type Chunks, extractText, push } from "./values.ts";

/**
 * extract_indexable_text_circular: GCNCircular.deserialize is `cls(**json.loads(...))`, so the value must be a
 * JSON object of exactly `header` (an object) and `body`; then every header name and value, and the body, all of
 * which must be strings (`' '.join` raises otherwise).
 */
export function circularText(value: Uint8Array, chunks: Chunks): boolean {
  const tree = loadPythonJson(value);
  if (!(tree instanceof Map) || tree.size !== 2 || !tree.has("header") || !tree.has("body")) return false;
  const header = tree.get("header");
  const body = tree.get("body");
  if (!(header instanceof Map) || typeof body !== "string") return false;
  for (const content of header.values()) if (typeof content !== "string") return false;
  for (const [title, content] of header) {
    push(chunks, title);
    push(chunks, content as string);
  }
  push(chunks, body);
  return true;
}

// re.match("([^:]*): *(.*)", line): everything up to the first colon, then the rest after any spaces.
const FIELD = /^([^:]*): *(.*)$/s;

/** extract_indexable_text_notice: GCNTextNotice's "key: value" lines (continuations appended), as extract_text. */
export function noticeText(value: Uint8Array, chunks: Chunks): boolean {
  const text = decodeUtf8(value);
  if (text === null) return false;
  const fields = new Map<string, string>();
  let lastKey: string | null = null;
  for (const line of pySplitlines(pyStrip(text))) {
    const m = FIELD.exec(line);
    if (m === null) {
      if (lastKey !== null) fields.set(lastKey, `${fields.get(lastKey)}\n${pyLstrip(line)}`);
      continue;
    }
    lastKey = pyStrip(m[1]!).toLowerCase();
    const field = pyStrip(m[2]!);
    const before = fields.get(lastKey);
    fields.set(lastKey, before === undefined ? field : `${before}\n${field}`);
  }
  extractText(fields, chunks);
  return true;
}
