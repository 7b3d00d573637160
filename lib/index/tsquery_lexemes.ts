// What a tsquery, as PostgreSQL prints it, requires of every text it matches: the lexemes a matching text must
// hold (text_order.ts asks the GIN index for the rare ones only, see there). Pure; parses PostgreSQL's own output
// (`websearch_to_tsquery(q)::text`), so that a lexeme's quoted form is kept exactly as PostgreSQL printed it.
//
// Grammar of the output, loosest first: a | b, a & b, a <-> b (or <N>), !a, ( a ), and 'lexeme' optionally
// followed by :* (prefix) or :ABCD (weights).

/** A lexeme token: its text as printed (quotes included, '' doubled) and as a value. */
export interface Lexeme {
  token: string;
  value: string;
}

export interface QueryLexemes {
  /** Every plain lexeme of the query (no prefix or weights). */
  all: Lexeme[];
  /** Lexemes every match must contain: those of the query's AND and phrase operands, outside OR and NOT. */
  required: Lexeme[];
}

type Token = { kind: "lexeme"; lexeme: Lexeme | null } | { kind: "op"; op: string };

function tokenize(text: string): Token[] | null {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " ") {
      i++;
    } else if (c === "'") {
      let j = i + 1;
      let value = "";
      for (;;) {
        if (j >= text.length) return null;
        if (text[j] === "\\" && j + 1 < text.length) {
          value += text[j + 1];
          j += 2;
        } else if (text[j] === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
          } else break;
        } else {
          value += text[j];
          j++;
        }
      }
      const token = text.slice(i, j + 1);
      i = j + 1;
      const suffix = /^:[*A-D]+/.exec(text.slice(i));
      if (suffix !== null) i += suffix[0].length;
      tokens.push({ kind: "lexeme", lexeme: suffix === null ? { token, value } : null });
    } else if (c === "<") {
      const end = text.indexOf(">", i);
      if (end < 0) return null;
      tokens.push({ kind: "op", op: "<->" });
      i = end + 1;
    } else if ("&|!()".includes(c)) {
      tokens.push({ kind: "op", op: c });
      i++;
    } else {
      return null;
    }
  }
  return tokens;
}

/** The lexemes of `printed` (a tsquery's text form); null when it is not in the form expected (then: no help). */
export function queryLexemes(printed: string): QueryLexemes | null {
  const tokens = tokenize(printed);
  if (tokens === null) return null;
  const all = tokens.flatMap((t) => t.kind === "lexeme" && t.lexeme !== null ? [t.lexeme] : []);
  let at = 0;
  const peek = (op: string) => {
    const t = tokens[at];
    return t !== undefined && t.kind === "op" && t.op === op;
  };
  // Each returns the lexemes required by what it parsed; undefined on a syntax it does not expect.
  const binary =
    (op: string, operand: () => Lexeme[] | undefined, joined: (a: Lexeme[], b: Lexeme[]) => Lexeme[]) =>
    (): Lexeme[] | undefined => {
      let left = operand();
      while (left !== undefined && peek(op)) {
        at++;
        const right = operand();
        left = right === undefined ? undefined : joined(left, right);
      }
      return left;
    };
  const primary = (): Lexeme[] | undefined => {
    const t = tokens[at++];
    if (t === undefined) return undefined;
    if (t.kind === "lexeme") return t.lexeme === null ? [] : [t.lexeme];
    if (t.op === "!") return primary() === undefined ? undefined : [];
    if (t.op !== "(") return undefined;
    const inner = or();
    if (!peek(")")) return undefined;
    at++;
    return inner;
  };
  const both = (a: Lexeme[], b: Lexeme[]) => [...a, ...b];
  const phrase = binary("<->", primary, both);
  const and = binary("&", phrase, both);
  const or: () => Lexeme[] | undefined = binary("|", and, () => []);
  const required = or();
  if (required === undefined || at !== tokens.length) return null;
  return { all, required };
}
