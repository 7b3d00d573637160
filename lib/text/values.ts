// The Python objects archive-core's extractors walk (what json.loads, fastavro and xmltodict return), and its
// `extract_text`, which collects the strings and numbers that seem worth indexing.

/** An int or float, as Python's `str()` prints it (JavaScript cannot tell 1 from 1.0, nor hold big ints). */
export interface PyNumber {
  readonly pyStr: string;
}
export type PyDict = Map<string, PyValue>;
/** bytes, datetime, Decimal, UUID: values extract_text passes over. */
export const OPAQUE: unique symbol = Symbol("opaque");
export type PyValue = null | boolean | string | PyNumber | PyValue[] | PyDict | typeof OPAQUE;

/**
 * Containers nested deeper than this make an extractor fail. archive-core's `extract_text` recurses once per
 * level and Python stops at about 1000 frames (RecursionError, then no text at all); measured with archive-core's
 * Decider at the top of a stack, 995 levels pass, and archive-core's own callers sit a few frames deeper.
 */
export const MAX_DEPTH = 990;

export function pyNumber(pyStr: string): PyNumber {
  return { pyStr };
}

function isNumber(v: PyValue): v is PyNumber {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map);
}

/** archive-core's should_index: long strings without a space are likely base64 or similar, not prose. */
export function shouldIndex(s: string): boolean {
  // len(s) >= 128 in code points: a string of 128..255 UTF-16 units may hold fewer code points.
  if (s.length < 128) return true;
  if (s.includes(" ")) return true;
  let points = 0;
  for (const _ of s) if (++points >= 128) return false;
  return true;
}

/** Collects text chunks until there is more than `budget` UTF-16 units: what follows would be truncated away. */
export interface Chunks {
  items: string[];
  units: number;
  budget: number;
}

export function newChunks(budget: number): Chunks {
  return { items: [], units: 0, budget };
}

export function full(chunks: Chunks): boolean {
  return chunks.units > chunks.budget;
}

export function push(chunks: Chunks, s: string): void {
  if (full(chunks)) return;
  chunks.items.push(s);
  chunks.units += s.length + 1;
}

/** archive-core's extract_text: strings; dict entries with a string or number value as key and value. */
export function extractText(obj: PyValue, chunks: Chunks): void {
  if (full(chunks)) return;
  if (typeof obj === "string") {
    if (shouldIndex(obj)) push(chunks, obj);
  } else if (obj instanceof Map) {
    for (const [key, val] of obj) {
      if (typeof val === "string" && shouldIndex(val)) {
        push(chunks, key);
        push(chunks, val);
      } else if (typeof val === "boolean") {
        // bool is an int in Python: str(True)
        push(chunks, key);
        push(chunks, val ? "True" : "False");
      } else if (val !== null && val !== OPAQUE && isNumber(val)) {
        push(chunks, key);
        push(chunks, val.pyStr);
      } else {
        extractText(val, chunks);
      }
    }
  } else if (Array.isArray(obj)) {
    for (const item of obj) extractText(item, chunks);
  }
}
