// JSON exactly as hop-client's Python writes it: `json.dumps(json.loads(text))` with Python's defaults. The payload
// of a hop-client `json` or `circular` message is that text, and mock-hop must send the same bytes, so JavaScript's
// JSON.stringify (other separators, no ASCII escaping, other number forms, no int/float distinction) cannot be used.
// json.loads is archive-core's, lib/text/json.ts: one parser and one escape table for both directions.
import { hkError } from "../runtime/errors.ts";
import { JSON_ESCAPES, parsePythonJson, PyJsonError } from "../text/json.ts";
import { OPAQUE, type PyDict, type PyNumber, type PyValue } from "../text/values.ts";

export type { PyValue };
export type PyObject = PyDict;

function syntaxError(text: string, error: PyJsonError): Error {
  return hkError(
    "MOCK_SAMPLE_INVALID",
    `invalid JSON sample: ${error.message} (near ${JSON.stringify(text.slice(error.at, error.at + 20))}); ` +
      "fix or remove the file in the testdata directory",
    { cause: error },
  );
}

/** `json.loads`: a repeated object key keeps its first position and its last value, like a dict. */
export function parsePyJson(text: string): PyValue {
  try {
    return parsePythonJson(text);
  } catch (e) {
    throw e instanceof PyJsonError ? syntaxError(text, e) : e;
  }
}

// str() of a float is its repr, which json.dumps writes, but for the three it spells as JavaScript does.
const FLOAT_WORDS: Readonly<Record<string, string>> = { nan: "NaN", inf: "Infinity", "-inf": "-Infinity" };

/** A number as json.dumps writes it: an int as its digits, a float as its repr. */
function numberText(n: PyNumber): string {
  return FLOAT_WORDS[n.pyStr] ?? n.pyStr;
}

// json.dumps writes the one-character escapes JSON reads, but for "\/": a solidus goes out as it is.
const SHORT_ESCAPES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(JSON_ESCAPES).filter(([escape]) => escape !== "/").map((
    [escape, char],
  ) => [char, `\\${escape}`]),
);

/** `json.dumps` with ensure_ascii: every UTF-16 unit outside space..tilde is escaped, as \uXXXX (lowercase). */
function stringText(text: string): string {
  let out = '"';
  for (const unit of text.split("")) {
    const code = unit.charCodeAt(0);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += unit;
  }
  return `${out}"`;
}

/** Python's `json.dumps(value)` with default arguments: separators ", " and ": ", ASCII only. */
export function pyDumps(value: PyValue): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return stringText(value);
  if (Array.isArray(value)) return `[${value.map(pyDumps).join(", ")}]`;
  if (value instanceof Map) {
    return `{${[...value].map(([k, v]) => `${stringText(k)}: ${pyDumps(v)}`).join(", ")}}`;
  }
  // Only extractors meet opaque values (bytes, datetimes); json.loads never makes one.
  if (value === OPAQUE) throw new TypeError("json.dumps of a value JSON cannot hold");
  return numberText(value);
}

/** A Python dict literal in the given key order. */
export function pyObject(entries: ReadonlyArray<readonly [string, PyValue]>): PyObject {
  return new Map(entries);
}
