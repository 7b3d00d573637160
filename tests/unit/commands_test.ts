// Each command's name, summary and help exist once, in its Command object: main.ts dispatches by name and lists
// the summaries for `--help` from those objects, so the list and the commands cannot drift apart.
import assert from "node:assert/strict";
import { COMMANDS, main, usage } from "../../main.ts";
import type { CommandContext } from "../../lib/cli/command.ts";

function context(out: string[]): CommandContext {
  return {
    env: {},
    stdout: (text) => void out.push(text),
    stdoutBytes: () => Promise.resolve(),
    isTerminal: false,
    shutdown: new AbortController().signal,
  };
}

Deno.test("commands: each is named as main.ts dispatches it, with a one-line summary and its own help", async () => {
  for (const [name, load] of Object.entries(COMMANDS)) {
    const command = await load();
    assert.equal(command.name, name);
    assert.match(command.summary, /^[^\n]{10,120}$/, `${name}: one line`);
    assert.match(command.help, new RegExp(`housekeeping ${name === "list" ? "(list|query)" : name}\\b`));
  }
});

Deno.test("commands: --help lists every command with the summary its Command object holds", async () => {
  const out: string[] = [];
  assert.equal(await main(["--help"], context(out)), 0);
  assert.equal(out.join(""), await usage());
  for (const load of Object.values(COMMANDS)) {
    const { name, summary } = await load();
    assert.ok(out.join("").includes(`  ${name}`) && out.join("").includes(summary), name);
  }
});

Deno.test("commands: a name that is no command, not even an object's own property, is a usage error", async () => {
  const out: string[] = [];
  const error = console.error;
  console.error = () => {};
  try {
    for (const name of ["nope", "constructor", "__proto__", "toString"]) {
      assert.equal(await main([name], context(out)), 2, name);
    }
  } finally {
    console.error = error;
  }
});
