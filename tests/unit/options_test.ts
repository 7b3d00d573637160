// A command's option table (lib/cli/options.ts) makes both its parser spec and its --help lines.
import assert from "node:assert/strict";
import {
  optionsHelp,
  optionSpec,
  type OptionTable,
  printableOptions,
  readOptions,
} from "../../lib/cli/options.ts";
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
  "a-very-long-flag-name": { type: "boolean", help: "still two spaces away" },
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
      "  --a-very-long-flag-name  still two spaces away",
      "  --rename FROM=TO     repeatable",
    ].join("\n"),
  );
  assert.match(
    optionsHelp({ url: { type: "string", arg: "URL", help: "x" } }, { column: 21 }),
    /^ {2}--url URL {10}x$/,
  );
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

const READ = {
  "put-concurrency": {
    type: "string",
    arg: "N",
    env: "PUT_CONCURRENCY",
    default: 64,
    help: "concurrent object writes",
    parse: { int: "concurrency" },
  },
  "max-rate": { type: "string", arg: "N", help: "records per second", parse: { number: "recordsPerSecond" } },
  progress: {
    type: "string",
    arg: "MODE",
    default: "auto",
    help: ["{default} (default), bar,", "json or none"],
    parse: { oneOf: ["auto", "bar", "json", "none"] },
  },
  "read-only": { type: "boolean", env: "READ_ONLY", help: "refuse writes" },
  "upload-timeout": {
    type: "string",
    arg: "SECONDS",
    env: "UPLOAD_TIMEOUT_SECONDS",
    default: 120,
    help: ["time a body may take (default {default}; slower: 408)", ""],
    parse: { int: "timeoutSeconds" },
  },
  quiet: { type: "boolean", help: "no progress output", print: false },
  window: {
    type: "string",
    multiple: true,
    arg: "W",
    default: "1h,all",
    help: "windows",
    parse: (texts: string[]) => texts.flatMap((t) => t.split(",")),
  },
  "hopauth-url": {
    type: "string",
    arg: "URL",
    env: "HOPAUTH_API_URL",
    help: "permissions [env {env}, an http(s) URL]",
    secret: true,
  },
  dir: { type: "string", arg: "DIR", default: "/tmp", help: "where", group: "target" },
} as const satisfies OptionTable;

const read = (argv: string[], env: Record<string, string> = {}) =>
  readOptions("test", READ, parseCommandArgs("test", argv, optionSpec(READ)).values, env);

Deno.test("options: readOptions takes the flag, else the variable, else the default, typed", () => {
  const none = read([]);
  assert.deepEqual(none, {
    "put-concurrency": 64,
    "max-rate": undefined,
    progress: "auto",
    "read-only": false,
    "upload-timeout": 120,
    quiet: false,
    window: ["1h", "all"],
    "hopauth-url": undefined,
    dir: "/tmp",
  });
  // The values are typed from the table: these assignments would not compile otherwise.
  const typed: [number, number | undefined, "auto" | "bar" | "json" | "none", boolean, string[], string] = [
    none["put-concurrency"],
    none["max-rate"],
    none.progress,
    none["read-only"],
    none.window,
    none.dir,
  ];
  assert.equal(typed.length, 6);
  const env = { PUT_CONCURRENCY: "8", READ_ONLY: "True", HOPAUTH_API_URL: "http://h/a" };
  const fromEnv = read([], env);
  assert.equal(fromEnv["put-concurrency"], 8);
  assert.equal(fromEnv["read-only"], true);
  assert.equal(fromEnv["hopauth-url"], "http://h/a");
  const flags = read(
    ["--put-concurrency", "3", "--max-rate", "0.5", "--progress", "json", "--window", "7d", "--read-only"],
    env,
  );
  assert.equal(flags["put-concurrency"], 3);
  assert.equal(flags["max-rate"], 0.5);
  assert.equal(flags.progress, "json");
  assert.deepEqual(flags.window, ["7d"]);
  assert.equal(read([], { PUT_CONCURRENCY: "" })["put-concurrency"], 64, "an empty variable is unset");
});

Deno.test("options: a bad flag is a usage error, a bad variable a configuration error naming it", () => {
  assert.throws(
    () => read(["--put-concurrency", "0"]),
    (e: Error & { code?: string }) =>
      e.code === "USAGE" && /--put-concurrency must be an integer from 1 to 1024, got "0"/.test(e.message),
  );
  assert.throws(
    () => read([], { PUT_CONCURRENCY: "many" }),
    (e: Error & { code?: string }) =>
      e.code === "CONFIG_INVALID" && /\(from PUT_CONCURRENCY\)/.test(e.message),
  );
  assert.throws(() => read(["--max-rate", "0"]), /from 0.001 to 1000000000/);
  assert.throws(() => read(["--progress", "fancy"]), /one of auto, bar, json, none/);
  assert.throws(
    () => read([], { READ_ONLY: "yes" }),
    (e: Error & { code?: string }) => e.code === "CONFIG_INVALID" && /READ_ONLY/.test(e.message),
  );
});

Deno.test("options: --help shows the default once, where {default} says or after the first line, and the variable", () => {
  assert.equal(
    optionsHelp(READ),
    [
      "  --put-concurrency N  concurrent object writes (default 64) [env PUT_CONCURRENCY]",
      "  --max-rate N         records per second",
      "  --progress MODE      auto (default), bar,",
      "                       json or none",
      "  --read-only          refuse writes [env READ_ONLY=true|false]",
      "  --upload-timeout SECONDS  time a body may take (default 120; slower: 408)",
      "                       [env UPLOAD_TIMEOUT_SECONDS]",
      "  --quiet              no progress output",
      "  --window W           windows (default 1h,all)",
      "  --hopauth-url URL    permissions [env HOPAUTH_API_URL, an http(s) URL]",
    ].join("\n"),
  );
  assert.equal(
    optionsHelp(READ, { group: "target", column: 27 }),
    "  --dir DIR                where (default /tmp)",
  );
});

Deno.test("options: --print-config shows every option by flag, as `print` says, secrets masked", () => {
  const parsed = read(["--hopauth-url", "https://user:pw@hopauth.example/api", "--window", "7d,all"]);
  const printed = printableOptions(READ, parsed);
  assert.deepEqual(printed, {
    "put-concurrency": 64,
    "max-rate": null,
    progress: "auto",
    "read-only": false,
    "upload-timeout": 120,
    window: ["7d", "all"],
    "hopauth-url": "***",
    dir: "/tmp",
  });
  assert.ok(!JSON.stringify(printed).includes("pw@"));
});
