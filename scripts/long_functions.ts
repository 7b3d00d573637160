// Lists the functions of lib/ (and main.ts) longer than a screen, for the house rule "keep functions under ~80
// lines" (issue 22). A heuristic, not a parser: a function starts at a `function` declaration, an arrow function
// assigned to a const/let, or a method, and ends at the first later line that closes a brace at its indentation
// (`deno fmt` keeps that true). "own" leaves out the lines of functions nested in it, so a factory that returns
// many small closures (createIndex) reads as the small function it is.
//
//   scripts/deno.sh run --allow-read scripts/long_functions.ts [--over N] [paths...]   (default: 80, lib main.ts)

const DECLARATION = new RegExp(
  [
    String.raw`^(\s*)(?:export\s+)?(?:default\s+)?(?:async\s+)?function\*?\s+(\w+)`,
    String
      .raw`^(\s*)(?:export\s+)?(?:const|let)\s+(\w+)\s*=\s*(?:async\s*)?(?:\([^)]*\)|\w+)\s*(?::\s*[^=]+)?=>\s*\{\s*$`,
    String.raw`^(\s*)(?:async\s+)?(\w+)\s*\([^)]*\)\s*(?::\s*[^{]+)?\{\s*$`,
  ].join("|"),
);
const NOT_FUNCTIONS = new Set(["if", "for", "while", "switch", "catch", "return", "function"]);

export interface LongFunction {
  path: string;
  line: number;
  name: string;
  total: number;
  own: number;
}

/** Pure: every function of `source` with its total and own line counts. */
export function functionsOf(path: string, source: string): LongFunction[] {
  const lines = source.split("\n");
  const spans: { start: number; end: number; name: string }[] = [];
  lines.forEach((text, start) => {
    const m = DECLARATION.exec(text);
    if (m === null) return;
    const indent = (m[1] ?? m[3] ?? m[5] ?? "").length;
    const name = m[2] ?? m[4] ?? m[6] ?? "";
    if (NOT_FUNCTIONS.has(name)) return;
    let open = start;
    while (open < lines.length && !lines[open]!.trimEnd().endsWith("{")) open++;
    let end = open + 1;
    for (; end < lines.length; end++) {
      const l = lines[end]!;
      if (l.trim() !== "" && l.length - l.trimStart().length === indent && l.trimStart().startsWith("}")) {
        break;
      }
    }
    spans.push({ start, end, name });
  });
  return spans.map(({ start, end, name }) => {
    const nested = spans.filter((s) => s.start > start && s.end <= end);
    const outermost = nested.filter((s) => !nested.some((o) => o.start < s.start && s.end <= o.end));
    const total = end - start + 1;
    const own = total - outermost.reduce((n, s) => n + s.end - s.start + 1, 0);
    return { path, line: start + 1, name, total, own };
  });
}

async function sources(paths: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of paths) {
    const info = await Deno.stat(path);
    if (info.isFile) {
      out.set(path, await Deno.readTextFile(path));
      continue;
    }
    for await (const e of Deno.readDir(path)) {
      const child = `${path}/${e.name}`;
      if (e.isDirectory || e.name.endsWith(".ts")) {
        for (const [p, s] of await sources([child])) out.set(p, s);
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--over");
  const over = at === -1 ? 80 : Number(args.splice(at, 2)[1]);
  const found: LongFunction[] = [];
  for (const [path, source] of await sources(args.length > 0 ? args : ["lib", "main.ts"])) {
    found.push(...functionsOf(path, source).filter((f) => f.total > over));
  }
  found.sort((a, b) => b.total - a.total || a.path.localeCompare(b.path));
  for (const f of found) {
    console.log(
      `${String(f.total).padStart(4)} own ${String(f.own).padStart(4)}  ${f.path}:${f.line} ${f.name}`,
    );
  }
  console.log(
    `${found.length} over ${over} lines; ${found.filter((f) => f.own > over).length} of them by own lines`,
  );
}
