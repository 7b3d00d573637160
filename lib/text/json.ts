// Python's `json.loads(data.decode("utf-8"))`, as hop-client's JSONBlob runs it, over hostile bytes: the same
// accepted inputs (NaN and Infinity too, no BOM), the same objects (dict order: first position, last value; ints of
// any size as their digits; at most 4300 digits, Python's int limit), with no recursion and bounded depth.
// mock-hop's json.dumps (lib/mock/pyjson.ts) reads its samples with this parser and escapes with its table.
import { pyFloatStr, pyIntStr } from "./python.ts";
import { MAX_DEPTH, type PyDict, pyNumber, type PyValue } from "./values.ts";

export class PyJsonError extends Error {
  /** Where the text stopped making sense (a UTF-16 index), for messages that quote it. */
  readonly at: number;
  constructor(problem: string, at: number) {
    super(`${problem} at character ${at}`);
    this.at = at;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NUMBER = /(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/y;
// deno-lint-ignore no-control-regex -- a raw control character ends a run: Python refuses it in a string
const PLAIN = /[^"\\\x00-\x1f]*/y;
/** JSON's one-character escapes: `\n` stands for a line feed... (json.dumps writes all but `\/`). */
export const JSON_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};
// Python 3.11+ refuses to convert longer digit strings to int (sys.int_info.default_max_str_digits).
const MAX_INT_DIGITS = 4300;

/** bytes.decode("utf-8") as Python does it: strict, and a BOM stays in the text. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

interface Frame {
  container: PyValue[] | PyDict;
  key: string | null;
}

export function parsePythonJson(text: string): PyValue {
  let at = 0;
  const fail = (what: string): never => {
    throw new PyJsonError(what, at);
  };
  const skip = () => {
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      at++;
    }
  };
  const hex4 = (): number => {
    const digits = text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) fail("invalid \\uXXXX escape");
    at += 4;
    return parseInt(digits, 16);
  };
  const string = (): string => {
    at++; // the opening quote
    const parts: string[] = [];
    for (;;) {
      PLAIN.lastIndex = at;
      PLAIN.exec(text);
      if (PLAIN.lastIndex > at) parts.push(text.slice(at, PLAIN.lastIndex));
      at = PLAIN.lastIndex;
      const c = text[at];
      if (c === undefined) fail("unterminated string");
      at++;
      if (c === '"') return parts.join("");
      if (c !== "\\") fail("invalid control character");
      const e = text[at++];
      if (e === "u") {
        const unit = hex4();
        // A high surrogate followed by an escaped low one is one character; a lone one stays lone.
        if (unit >= 0xd800 && unit <= 0xdbff && text.startsWith("\\u", at)) {
          const save = at;
          at += 2;
          const low = /^[0-9a-fA-F]{4}$/.test(text.slice(at, at + 4)) ? hex4() : -1;
          if (low >= 0xdc00 && low <= 0xdfff) {
            parts.push(String.fromCharCode(unit, low));
            continue;
          }
          at = save;
        }
        parts.push(String.fromCharCode(unit));
      } else if (e !== undefined && e in JSON_ESCAPES) parts.push(JSON_ESCAPES[e]!);
      else fail("invalid escape");
    }
  };
  const scalar = (): PyValue => {
    const c = text[at];
    if (c === '"') return string();
    for (const [word, value] of WORDS) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (m === null) return fail("expecting value");
    at = NUMBER.lastIndex;
    const [, integer = "", fraction, exponent] = m;
    if (fraction === undefined && exponent === undefined) {
      if (integer.replace("-", "").length > MAX_INT_DIGITS) fail("int too long");
      return pyNumber(pyIntStr(integer));
    }
    return pyNumber(pyFloatStr(Number(m[0])));
  };

  const stack: Frame[] = [];
  let result: PyValue | undefined;
  const open = (container: PyValue[] | PyDict) => {
    if (stack.length >= MAX_DEPTH) fail("nested too deeply");
    stack.push({ container, key: null });
  };
  // Stores a finished value in the innermost container, or as the result.
  const store = (value: PyValue) => {
    const top = stack.at(-1);
    if (top === undefined) result = value;
    else if (Array.isArray(top.container)) top.container.push(value);
    else top.container.set(top.key!, value);
  };
  const readKey = (top: Frame) => {
    skip();
    if (text[at] !== '"') fail("expecting property name enclosed in double quotes");
    top.key = string();
    skip();
    if (text[at] !== ":") fail("expecting ':' delimiter");
    at++;
  };

  let needValue = true;
  while (result === undefined) {
    skip();
    if (needValue) {
      const c = text[at];
      if (c === "{") {
        at++;
        const dict: PyDict = new Map();
        open(dict);
        skip();
        if (text[at] === "}") {
          at++;
          stack.pop();
          store(dict);
          needValue = false;
        } else readKey(stack.at(-1)!);
        continue;
      }
      if (c === "[") {
        at++;
        const list: PyValue[] = [];
        open(list);
        skip();
        if (text[at] === "]") {
          at++;
          stack.pop();
          store(list);
          needValue = false;
        }
        continue;
      }
      store(scalar());
      needValue = false;
      continue;
    }
    // After a value inside a container: a separator or the end of the container.
    const top = stack.at(-1)!;
    const isList = Array.isArray(top.container);
    const c = text[at];
    if (c === ",") {
      at++;
      if (!isList) readKey(top);
      needValue = true;
    } else if (c === (isList ? "]" : "}")) {
      at++;
      stack.pop();
      store(top.container);
    } else fail(isList ? "expecting ',' delimiter" : "expecting ',' delimiter in object");
  }
  skip();
  if (at !== text.length) fail("extra data");
  return result;
}

const WORDS: ReadonlyArray<readonly [string, PyValue]> = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["NaN", pyNumber("nan")],
  ["Infinity", pyNumber("inf")],
  ["-Infinity", pyNumber("-inf")],
];

/** json.loads(bytes.decode("utf-8")); null when either step raises. */
export function loadPythonJson(bytes: Uint8Array): PyValue | undefined {
  const text = decodeUtf8(bytes);
  if (text === null) return undefined;
  try {
    return parsePythonJson(text);
  } catch (e) {
    if (e instanceof PyJsonError) return undefined;
    throw e;
  }
}
