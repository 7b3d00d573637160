// The few Python string behaviours archive-core's text extraction (and mock-hop's json.dumps) rely on, where
// JavaScript's differ: what counts as whitespace (str.strip), where lines end (str.splitlines), how a float prints
// (repr and str of a float), and lengths in code points rather than UTF-16 units.

// str.isspace(): JavaScript's \s lacks \x1c-\x1f and \x85, and has \ufeff, which Python does not strip.
const WHITESPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const LEADING = new RegExp(`^[${WHITESPACE}]+`);
const TRAILING = new RegExp(`[${WHITESPACE}]+$`);
// str.splitlines() line boundaries.
// deno-lint-ignore no-control-regex -- Python breaks lines at these control characters
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

/** Python's `s.lstrip()`. */
export function pyLstrip(s: string): string {
  return s.replace(LEADING, "");
}

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  // Trailing first: a regex anchored at the end scans from the start, so strip what is cheap to find first.
  const end = TRAILING.exec(s);
  return pyLstrip(end === null ? s : s.slice(0, end.index));
}

/** Python's `s.splitlines()`: no empty last line for a trailing break. */
export function pySplitlines(s: string): string[] {
  if (s === "") return [];
  const lines = s.split(LINE_BREAK);
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4 <= |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity"; // json.dumps spells them so
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa = "", exponentText = "0"] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= digits.length - 1) return `${sign}${digits}${"0".repeat(exponent - digits.length + 1)}.0`;
    if (exponent >= 0) return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
    return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  }
  const body = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${sign}${body}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

/** Python's `str(x)` of a float. */
export function pyFloatStr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return pyFloatRepr(x);
}

/** Python's `str(n)` of an int, from its decimal digits (JSON's `-0` is the int 0). */
export function pyIntStr(digits: string): string {
  const negative = digits.startsWith("-");
  const body = (negative ? digits.slice(1) : digits).replace(/^0+(?=\d)/, "");
  return negative && body !== "0" ? `-${body}` : body;
}

/** Python's `len(s)`: code points (a lone surrogate counts as one, as in Python). */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Python's `s[0:n]`, in code points. */
export function codePointPrefix(s: string, n: number): string {
  let units = 0;
  for (let points = 0; points < n && units < s.length; points++) {
    const c = s.charCodeAt(units);
    const d = s.charCodeAt(units + 1);
    units += c >= 0xd800 && c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
  }
  return s.slice(0, units);
}
