import assert from "node:assert/strict";
import { queryLexemes } from "../../lib/index/tsquery_lexemes.ts";

const values = (printed: string) => {
  const q = queryLexemes(printed);
  return q === null ? null : { all: q.all.map((l) => l.value), required: q.required.map((l) => l.value) };
};

Deno.test("queryLexemes: what every match must contain, from PostgreSQL's printed tsquery", () => {
  assert.deepEqual(values("'grb' <-> '221009a'"), { all: ["grb", "221009a"], required: ["grb", "221009a"] });
  assert.deepEqual(values("'grb' & !'optic'"), { all: ["grb", "optic"], required: ["grb"] });
  assert.deepEqual(values("'swift' | 'fermi' & 'grb'"), { all: ["swift", "fermi", "grb"], required: [] });
  assert.deepEqual(values("( 'swift' | 'fermi' ) & 'grb'"), {
    all: ["swift", "fermi", "grb"],
    required: ["grb"],
  });
  assert.deepEqual(values("!'a' <-> 'b' <2> 'c'"), { all: ["a", "b", "c"], required: ["b", "c"] });
  // Prefix and weighted lexemes are not looked up alone.
  assert.deepEqual(values("'gr':* & 'burst':A"), { all: [], required: [] });
  // Quotes and backslashes as PostgreSQL prints them; the token is kept as printed.
  const q = queryLexemes("'it''s' & 'a\\\\b'");
  assert.deepEqual(q?.required.map((l) => [l.token, l.value]), [["'it''s'", "it's"], ["'a\\\\b'", "a\\b"]]);
  assert.deepEqual(values(""), null);
  assert.deepEqual(values("'unterminated"), null);
  assert.deepEqual(values("'a' & ( 'b'"), null);
  assert.deepEqual(values("'a' 'b'"), null);
});
