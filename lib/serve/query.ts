// Query parameters read as archive-api (FastAPI + pydantic) reads them, with its 422 answer for a value of the wrong
// kind: the last of repeated values wins, integers are decimal, booleans take pydantic's spellings. Values are
// request input: integers are bounded to int64 here (PostgreSQL's bigint) and strings by length.

export interface QueryError {
  type: string;
  loc: ["query", string];
  msg: string;
  input: string | null;
}

const TRUE = new Set(["1", "on", "t", "true", "y", "yes"]);
const FALSE = new Set(["0", "off", "f", "false", "n", "no"]);
const INT64 = 2n ** 63n;

/** Whether `n` fits PostgreSQL's bigint. */
export function isInt64(n: bigint): boolean {
  return n >= -INT64 && n < INT64;
}
/** Longer query values are refused (400) before anything else reads them. */
export const MAX_QUERY_VALUE_CHARS = 4096;

export function createQueryReader(params: URLSearchParams) {
  const errors: QueryError[] = [];
  const last = (name: string) => params.getAll(name).at(-1) ?? null;

  function int(name: string): bigint | undefined {
    const v = last(name);
    if (v === null) return undefined;
    const t = v.trim();
    // Any length pydantic reads (the caller bounds the value: int64 for PostgreSQL).
    if (/^[-+]?\d+$/.test(t)) return BigInt(t);
    errors.push({
      type: "int_parsing",
      loc: ["query", name],
      msg: "Input should be a valid integer, unable to parse string as an integer",
      input: v,
    });
    return undefined;
  }

  function bool(name: string, fallback: boolean): boolean;
  function bool(name: string, fallback: null): boolean | null;
  function bool(name: string, fallback: boolean | null): boolean | null {
    const v = last(name);
    if (v === null) {
      if (fallback === null) {
        errors.push({ type: "missing", loc: ["query", name], msg: "Field required", input: null });
      }
      return fallback;
    }
    const t = v.trim().toLowerCase();
    if (TRUE.has(t)) return true;
    if (FALSE.has(t)) return false;
    errors.push({
      type: "bool_parsing",
      loc: ["query", name],
      msg: "Input should be a valid boolean, unable to interpret input",
      input: v,
    });
    return fallback ?? false;
  }

  return {
    int,
    bool,
    str: (name: string): string | undefined => last(name) ?? undefined,
    list: (name: string): string[] => params.getAll(name),
    errors,
    /** archive-api's answer to the parameters read so far, or null when they were all fine. */
    failure(): Response | null {
      return errors.length === 0 ? null : Response.json({ detail: errors }, { status: 422 });
    },
  };
}

/**
 * Why the query cannot be read at all (a 400), or null: a value longer than MAX_QUERY_VALUE_CHARS, or holding NUL,
 * which PostgreSQL's text cannot hold (it would fail the query: a 500 for the client's mistake).
 */
export function unreadableQuery(params: URLSearchParams): string | null {
  for (const [k, v] of params) {
    if (v.length > MAX_QUERY_VALUE_CHARS || k.length > MAX_QUERY_VALUE_CHARS) return "Query value too long";
    if (v.includes("\u0000") || k.includes("\u0000")) return "Query values cannot contain NUL";
  }
  return null;
}
