// The documents against the code: the README's configuration table must say what SETTINGS says (a setting added,
// renamed or given a new default without the README, or the reverse, fails here), every relative link in
// README.md and docs/ must reach an existing file and heading, and every repository path they name must exist
// (a file moved without its documents fails here). No services needed.
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type SettingDef, SETTINGS } from "../../lib/cli/config.ts";
import type { OptionTable } from "../../lib/cli/options.ts";
import { SERVE_OPTIONS } from "../../lib/commands/serve.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** The body rows of the first table under `heading`, as trimmed cells. */
function tableUnder(markdown: string, heading: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,2} /.test(line)) break;
    if (!line.startsWith("|")) {
      if (rows.length > 0) break;
      continue;
    }
    rows.push(line.split("|").slice(1, -1).map((cell) => cell.trim()));
  }
  // Drop the header row and the |---| separator.
  return rows.slice(2);
}

const firstCode = (cell: string) => /`([^`]*)`/.exec(cell)?.[1];
const onlyCode = (cell: string) => /^`([^`]*)`$/.exec(cell)?.[1];

/**
 * What differs between the README's configuration table and `settings`: one line per problem, empty when they
 * agree. A row names a setting by its flag; its environment and config-file cells must name the same variable and
 * key; a default the code has must be the cell's only content, and a cell that is only a literal claims a default
 * the code must have.
 */
export function configTableProblems(readme: string, settings: readonly SettingDef[]): string[] {
  const problems: string[] = [];
  const rows = tableUnder(readme, "## Configuration");
  if (rows.length === 0) return ['README.md has no table under "## Configuration"'];
  const seen = new Set<string>();
  for (const [flagCell = "", envCell = "", fileCell = "", defaultCell = ""] of rows) {
    const flag = firstCode(flagCell)?.replace(/^--/, "");
    const setting = settings.find((s) => s.flag === flag);
    if (flag === undefined || setting === undefined) {
      problems.push(`README row ${flagCell} names no setting of SETTINGS`);
      continue;
    }
    if (seen.has(flag)) problems.push(`README has two rows for --${flag}`);
    seen.add(flag);
    if (firstCode(envCell) !== setting.env) {
      problems.push(`--${flag}: README says environment ${envCell}, SETTINGS says ${setting.env}`);
    }
    if (firstCode(fileCell) !== setting.file) {
      problems.push(`--${flag}: README says config key ${fileCell}, SETTINGS says ${setting.file}`);
    }
    const claimed = onlyCode(defaultCell);
    if (setting.default !== undefined && claimed !== setting.default) {
      problems.push(`--${flag}: README says default ${defaultCell}, SETTINGS says \`${setting.default}\``);
    }
    if (setting.default === undefined && claimed !== undefined) {
      problems.push(
        `--${flag}: README claims default ${defaultCell}, SETTINGS has none (describe what unset means)`,
      );
    }
  }
  for (const setting of settings) {
    if (!seen.has(setting.flag)) {
      problems.push(`--${setting.flag} (${setting.env}) is missing from README.md`);
    }
  }
  return problems;
}

/**
 * What differs between a command's settings table in its document (flag, environment, default) and its option
 * table: every option has a row naming its variable, and an option's default is the default cell's first code span.
 * A row may also name a shared setting of SETTINGS (serve's --public-topics), checked the same way.
 */
export function optionsTableProblems(markdown: string, heading: string, table: OptionTable): string[] {
  const problems: string[] = [];
  const rows = tableUnder(markdown, heading);
  if (rows.length === 0) return [`no table under "${heading}"`];
  const seen = new Set<string>();
  for (const [flagCell = "", envCell = "", defaultCell = ""] of rows) {
    const flag = firstCode(flagCell)?.replace(/^--/, "") ?? "";
    const shared = (SETTINGS as readonly SettingDef[]).find((s) => s.flag === flag);
    const def = table[flag] ?? (shared && { env: shared.env, default: shared.default });
    if (def === undefined) {
      problems.push(`row ${flagCell} names no option of the table`);
      continue;
    }
    seen.add(flag);
    // `READ_ONLY=true` names READ_ONLY.
    if (firstCode(envCell)?.split("=")[0] !== def.env) {
      problems.push(`--${flag}: the document says environment ${envCell}, the table says ${def.env}`);
    }
    if (def.default !== undefined && firstCode(defaultCell) !== String(def.default)) {
      problems.push(`--${flag}: the document says default ${defaultCell}, the table says \`${def.default}\``);
    }
  }
  for (const flag of Object.keys(table)) {
    if (!seen.has(flag)) problems.push(`--${flag} is missing from the document's table`);
  }
  return problems;
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens; repeats get -1, -2, ... */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const line of withoutCode(markdown).split("\n")) {
    const heading = /^#{1,6} (.*)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading.replace(/`/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = counts.get(slug) ?? 0;
    counts.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Markdown with fenced blocks and code spans blanked: links there are not links. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "``");
}

/** Every relative link of `file` (a path from the repository root) that does not resolve, as a message. */
export function brokenLinks(
  file: string,
  markdown: string,
  readAt: (path: string) => string | null,
): string[] {
  const problems: string[] = [];
  for (const [, target = ""] of withoutCode(markdown).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
    const [path = "", anchor] = target.split("#", 2);
    const resolved = path === "" ? file : relative(ROOT, join(ROOT, dirname(file), path));
    const text = readAt(resolved);
    if (text === null) {
      problems.push(`${file}: link ${target}: no file ${resolved}`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(text).has(anchor)) {
      problems.push(`${file}: link ${target}: ${resolved} has no heading #${anchor}`);
    }
  }
  return problems;
}

/** Paths the documents name that live in other repositories (archive-ingest's script, for the benchmark). */
const FOREIGN_PATHS = new Set(["scripts/archive_ingest.py"]);

/** Every code span that is a path of this repository (lib/, tests/, scripts/, testdata/, docs/) and is missing. */
export function missingPaths(file: string, markdown: string, exists: (path: string) => boolean): string[] {
  const prose = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");
  return [...prose.matchAll(/`((?:lib|tests|scripts|testdata|docs)\/[\w./-]*)`/g)]
    .map(([, path = ""]) => path)
    .filter((path) => !FOREIGN_PATHS.has(path) && !exists(path))
    .map((path) => `${file}: names ${path}, which does not exist`);
}

// A link to a folder (docs/screenshots/) resolves when the folder exists; it has no headings to check.
const readRepo = (path: string) =>
  !existsSync(join(ROOT, path)) ? null : statSync(join(ROOT, path)).isDirectory() ? "" : read(path);
const documents = [
  "README.md",
  ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
];

Deno.test("the README's configuration table and SETTINGS agree, row for row", () => {
  assertEquals(configTableProblems(read("README.md"), SETTINGS), []);
});

Deno.test("the configuration check fails on a missing row, a wrong name and a wrong default", () => {
  const readme = read("README.md");
  const row = readme.split("\n").find((line) => line.startsWith("| `--group`"));
  if (row === undefined) throw new Error("README.md has no --group row");
  assertEquals(configTableProblems(readme.replace(row + "\n", ""), SETTINGS), [
    "--group (KAFKA_GROUP_ID) is missing from README.md",
  ]);
  assertEquals(configTableProblems(readme.replace("`KAFKA_GROUP_ID`", "`KAFKA_GROUP`"), SETTINGS).length, 1);
  assertEquals(
    configTableProblems(readme.replace("`housekeeping`  ", "`archiver`     "), SETTINGS).length,
    1,
  );
  const extra = [...SETTINGS, { flag: "new-one", env: "NEW_ONE", file: "new_one", help: "" }];
  assertEquals(configTableProblems(readme, extra), ["--new-one (NEW_ONE) is missing from README.md"]);
});

Deno.test("docs/serve.md's settings table and serve's option table agree, row for row", () => {
  const doc = read("docs/serve.md");
  assertEquals(optionsTableProblems(doc, "## Settings", SERVE_OPTIONS), []);
  // It can fail: a row dropped, a variable renamed, a default changed.
  const row = doc.split("\n").find((line) => line.startsWith("| `--http-host`"));
  if (row === undefined) throw new Error("docs/serve.md has no --http-host row");
  assertEquals(optionsTableProblems(doc.replace(row + "\n", ""), "## Settings", SERVE_OPTIONS), [
    "--http-host is missing from the document's table",
  ]);
  assertEquals(
    optionsTableProblems(doc.replace("`MAX_UPLOAD_MIB`", "`UPLOAD_MIB`"), "## Settings", SERVE_OPTIONS),
    [
      "--max-upload-mib: the document says environment `UPLOAD_MIB`, the table says MAX_UPLOAD_MIB",
    ],
  );
  assertEquals(optionsTableProblems(doc.replace("`8080`", "`8000`"), "## Settings", SERVE_OPTIONS).length, 1);
});

Deno.test("every relative link in README.md and docs/ reaches a file and heading", () => {
  assertEquals(documents.flatMap((file) => brokenLinks(file, read(file), readRepo)), []);
});

Deno.test("the link check finds a missing file and a missing heading", () => {
  const text =
    "[a](docs/nowhere.md) [b](docs/archive-format.md#no-such-heading) [c](docs/archive-format.md#glossary)";
  assertEquals(brokenLinks("README.md", text, readRepo), [
    "README.md: link docs/nowhere.md: no file docs/nowhere.md",
    "README.md: link docs/archive-format.md#no-such-heading: docs/archive-format.md has no heading #no-such-heading",
  ]);
});

Deno.test("every path README.md and docs/ name in code spans exists (they follow the layout)", () => {
  const exists = (path: string) => existsSync(join(ROOT, path));
  assertEquals(documents.flatMap((file) => missingPaths(file, read(file), exists)), []);
  assertEquals(missingPaths("x.md", "`lib/config.ts` and `lib/cli/config.ts`", exists), [
    "x.md: names lib/config.ts, which does not exist",
  ]);
});
