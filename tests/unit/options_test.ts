// A command's option table (lib/cli/options.ts) makes both its parser spec and its --help lines.
import assert from "node:assert/strict";
import { optionsHelp, optionSpec, type OptionTable } from "../../lib/cli/options.ts";
import { parseCommandArgs } from "../../lib/cli/config.ts";

const TABLE = {
  dir: { type: "string", arg: "DIR", help: "target directory" },
  output: {
    type: "string",
    short: "o",
    arg: "FILE",
    help: ["save it to FILE", "(the JSON is still printed)"],
  },
  concurrency: { type: "string", arg: "N", default: 16, help: "objects read at once" },
  "a-very-long-flag-name": { type: "boolean", help: "still one space away" },
  rename: { type: "string", multiple: true, arg: "FROM=TO", help: "repeatable" },
} as const satisfies OptionTable;

Deno.test("options: --help lines in the settings' column, with alias, value name, default and more lines", () => {
  assert.equal(
    optionsHelp(TABLE),
    [
      "  --dir DIR            target directory",
      "  --output, -o FILE    save it to FILE",
      "                       (the JSON is still printed)",
      "  --concurrency N      objects read at once (default 16)",
      "  --a-very-long-flag-name still one space away",
      "  --rename FROM=TO     repeatable",
    ].join("\n"),
  );
  assert.match(optionsHelp({ url: { type: "string", arg: "URL", help: "x" } }, 21), /^ {2}--url URL {10}x$/);
});

Deno.test("options: the parser accepts exactly the table's options", () => {
  const { values } = parseCommandArgs(
    "test",
    ["--dir", "d", "-o", "f", "--rename", "a=b", "--rename", "c=d", "--a-very-long-flag-name"],
    optionSpec(TABLE),
  );
  assert.deepEqual(
    { ...values },
    { dir: "d", output: "f", rename: ["a=b", "c=d"], "a-very-long-flag-name": true },
  );
  assert.throws(
    () => parseCommandArgs("test", ["--nope"], optionSpec(TABLE)),
    /see `housekeeping test --help`/,
  );
});
