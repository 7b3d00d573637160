// The allowed import directions between lib/'s rooms (docs/architecture.md, "Allowed imports"): a room imports only
// from rooms on a lower layer, never from a room on its own layer, never upwards. Every import of lib/ and main.ts
// is read (static, `export ... from`, `import type` and dynamic `import("...")`), so a new arrow that breaks the
// order fails here with the file, the import and the rule.
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url).pathname;

/** Lowest first. lib/'s root files (version.ts) sit with runtime; main.ts is above every room. */
export const LAYERS: readonly (readonly string[])[] = [
  ["runtime", "(root)"],
  ["format"],
  ["store", "index", "kafka", "hopauth"],
  ["topics", "text"],
  ["cli"],
  ["archive", "mock"],
  ["serve", "restore", "verify"],
  ["web"],
  ["commands"],
  ["main.ts"],
];

/** lib/'s root is for the odd file that fits no room (version.ts, stamped by scripts/stamp-version.sh). */
const MAX_ROOT_FILES = 3;

const layerOf = new Map<string, number>(
  LAYERS.flatMap((rooms, i) => rooms.map((r) => [r, i] as [string, number])),
);

/** The room of a repository path: lib/<room>/..., "(root)" for lib/<file>, "main.ts", or null outside lib/. */
export function roomOf(path: string): string | null {
  if (path === "main.ts") return "main.ts";
  const parts = path.split("/");
  if (parts[0] !== "lib") return null;
  return parts.length === 2 ? "(root)" : parts[1] ?? null;
}

/** Every relative module specifier in `source`: static, re-export, type-only and dynamic imports. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;'"`]*?\sfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) found.push(m[1] ?? "");
  return found;
}

function resolve(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const piece of specifier.split("/")) {
    if (piece === "..") parts.pop();
    else if (piece !== ".") parts.push(piece);
  }
  return parts.join("/");
}

/** Pure: one sentence per forbidden import among `files` (repository path -> source text). */
export function violations(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [path, source] of files) {
    const from = roomOf(path)!;
    const fromLayer = layerOf.get(from);
    if (fromLayer === undefined) {
      out.push(
        `${path}: lib/${from}/ is a room on no layer; add it to LAYERS in tests/unit/architecture_test.ts and ` +
          `to docs/architecture.md`,
      );
      continue;
    }
    for (const specifier of importsOf(source)) {
      const target = resolve(path, specifier);
      const to = roomOf(target);
      if (to === from) continue;
      const toLayer = to === null ? undefined : layerOf.get(to);
      if (to === null || toLayer === undefined) {
        out.push(`${path} imports ${specifier}: outside lib/'s rooms (${target})`);
      } else if (toLayer === fromLayer) {
        out.push(
          `${path} imports ${specifier}: ${from} and ${to} share layer ${fromLayer} and must not import each other`,
        );
      } else if (toLayer > fromLayer) {
        out.push(
          `${path} imports ${specifier}: ${from} (layer ${fromLayer}) must not import ${to} (layer ${toLayer}); ` +
            `imports go down the layers only`,
        );
      }
    }
  }
  return out;
}

async function sources(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  files.set("main.ts", await Deno.readTextFile(`${ROOT}main.ts`));
  async function walk(dir: string): Promise<void> {
    for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) files.set(path, await Deno.readTextFile(`${ROOT}${path}`));
    }
  }
  await walk("lib");
  return files;
}

Deno.test("architecture: every import in lib/ and main.ts goes down the layers", async () => {
  const files = await sources();
  assert.ok(files.size > 50, `read only ${files.size} files`);
  assert.deepEqual(violations(files), []);
});

Deno.test("architecture: lib/'s root holds only a handful of files", async () => {
  const root: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}lib`)) if (e.isFile) root.push(e.name);
  assert.ok(
    root.length <= MAX_ROOT_FILES,
    `lib/ has ${root.length} files at its root (${root.sort().join(", ")}); at most ${MAX_ROOT_FILES}: ` +
      `put code in the room it belongs to (docs/architecture.md)`,
  );
});

Deno.test("architecture: docs/architecture.md states the same layers", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/architecture.md`);
  // The table's rows, whatever padding `deno fmt` gives them.
  const rows = doc.split("\n").filter((l) => /^\|\s*\d+\s*\|/.test(l))
    .map((l) => l.split("|").slice(1, -1).map((cell) => cell.trim()).join(" | "));
  assert.deepEqual(rows, LAYERS.map((rooms, i) => `${i} | ${rooms.join(", ")}`));
});

Deno.test("architecture: the rule catches upward, sideways and outside imports", () => {
  const files = new Map([
    ["lib/format/a.ts", 'import { x } from "../cli/flags.ts";\nimport type { Y } from "./types.ts";'],
    ["lib/store/b.ts", 'export { z } from "../index/types.ts";'],
    ["lib/runtime/c.ts", 'const m = await import("../../tests/support/x.ts");'],
    ["lib/commands/d.ts", 'import { w } from "../runtime/log.ts";\nimport "../format/record.ts";'],
    ["lib/newroom/e.ts", ""],
  ]);
  const [upward, sideways, outside, roomless, ...more] = violations(files);
  assert.deepEqual(more, []);
  assert.match(
    upward ?? "",
    /^lib\/format\/a\.ts imports \.\.\/cli\/flags\.ts: format \(layer 1\) must not import cli/,
  );
  assert.match(sideways ?? "", /^lib\/store\/b\.ts .* store and index share layer 2/);
  assert.match(outside ?? "", /^lib\/runtime\/c\.ts .* outside lib\/'s rooms/);
  assert.match(roomless ?? "", /^lib\/newroom\/e\.ts: lib\/newroom\/ is a room on no layer/);
});
