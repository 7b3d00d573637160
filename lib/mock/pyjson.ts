// JSON exactly as hop-client's Python writes it: `json.dumps(json.loads(text))` with Python's defaults. The payload
// of a hop-client `json` or `circular` message is that text, and mock-hop must send the same bytes, so JavaScript's
// JSON.stringify (other separators, no ASCII escaping, other number forms, no int/float distinction) cannot be used.
import { hkError } from "../runtime/errors.ts";
import { pyFloatRepr } from "../text/python.ts";

export { pyFloatRepr };

/** A number keeps its JSON token, because Python tells 1 (int) from 1.0 (float) and JavaScript cannot. */
export interface PyNumber {
  token: string;
}
export type PyObject = Map<string, PyValue>;
export type PyValue = null | boolean | string | PyNumber | PyValue[] | PyObject;

function syntaxError(text: string, at: number, problem: string): Error {
  return hkError(
    "MOCK_SAMPLE_INVALID",
    `invalid JSON sample at character ${at}: ${problem} (near ${JSON.stringify(text.slice(at, at + 20))}); ` +
      "fix or remove the file in the testdata directory",
  );
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** `json.loads`: strict JSON; a repeated object key keeps its first position and its last value, like a dict. */
export function parsePyJson(text: string): PyValue {
  let at = 0;
  const skip = () => {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(text);
    at = WHITESPACE.lastIndex;
  };
  const expect = (char: string) => {
    if (text[at] !== char) throw syntaxError(text, at, `expected ${JSON.stringify(char)}`);
    at++;
  };
  const string = (): string => {
    expect('"');
    let out = "";
    for (;;) {
      const char = text[at];
      if (char === undefined) throw syntaxError(text, at, "unterminated string");
      at++;
      if (char === '"') return out;
      if (char < " ") throw syntaxError(text, at - 1, "control character in string");
      if (char !== "\\") {
        out += char;
        continue;
      }
      const escape = text[at++] ?? "";
      if (escape === "u") {
        const hex = text.slice(at, at + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw syntaxError(text, at, "bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        at += 4;
      } else if (escape in ESCAPES) out += ESCAPES[escape];
      else throw syntaxError(text, at - 1, "bad escape");
    }
  };
  const value = (): PyValue => {
    skip();
    const char = text[at];
    if (char === "{") {
      at++;
      const object: PyObject = new Map();
      skip();
      if (text[at] === "}") {
        at++;
        return object;
      }
      for (;;) {
        skip();
        const key = string();
        skip();
        expect(":");
        object.set(key, value());
        skip();
        if (text[at] === "}") {
          at++;
          return object;
        }
        expect(",");
      }
    }
    if (char === "[") {
      at++;
      const array: PyValue[] = [];
      skip();
      if (text[at] === "]") {
        at++;
        return array;
      }
      for (;;) {
        array.push(value());
        skip();
        if (text[at] === "]") {
          at++;
          return array;
        }
        expect(",");
      }
    }
    if (char === '"') return string();
    for (const [word, result] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return result;
      }
    }
    NUMBER.lastIndex = at;
    const match = NUMBER.exec(text);
    if (match === null) throw syntaxError(text, at, "unexpected character");
    at = NUMBER.lastIndex;
    return { token: match[0] };
  };
  const result = value();
  skip();
  if (at !== text.length) throw syntaxError(text, at, "extra data after the JSON value");
  return result;
}

function numberText(token: string): string {
  if (/^-?\d+$/.test(token)) return token === "-0" ? "0" : token; // a Python int prints as itself
  return pyFloatRepr(Number(token));
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

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
  return numberText(value.token);
}

/** A Python dict literal in the given key order. */
export function pyObject(entries: ReadonlyArray<readonly [string, PyValue]>): PyObject {
  return new Map(entries);
}
