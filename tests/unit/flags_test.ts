// One flags module: a bad flag value is a USAGE error and exit 2 in every command; the same bad value read from
// the environment is CONFIG_INVALID and exit 1. The commands run in-process through main(), as from a shell.
import assert from "node:assert/strict";
import {
  booleanFlagOrEnv,
  booleanValue,
  flagOrEnv,
  intInRange,
  nonNegativeBigInt,
  oneOf,
  positiveInt,
  positiveNumber,
  usageError,
} from "../../lib/cli/flags.ts";
import { main } from "../../main.ts";
import { hasCode } from "../support/helpers.ts";

/** Runs `housekeeping ...argv` and returns its exit code and what it printed on stderr. */
async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const printError = console.error;
  console.error = (...parts: unknown[]) => stderr += `${parts.join(" ")}\n`;
  try {
    const code = await main(argv, {
      env,
      stdout: () => {},
      stdoutBytes: () => Promise.resolve(),
      isTerminal: false,
      stderr: () => {},
      shutdown: AbortSignal.abort(),
    });
    return { code, stderr };
  } finally {
    console.error = printError;
  }
}

Deno.test("every bad flag value exits 2 with USAGE, in every command", async () => {
  const cases: string[][] = [
    ["archive", "--put-concurrency", "x"],
    ["archive", "--partitions-concurrency", "0"],
    ["archive", "--max-inflight-mib", "1.5"],
    ["archive", "--session-timeout", "-1"],
    ["archive", "--topic-refresh", "soon"],
    ["archive", "--http-port", "eighty"],
    ["archive", "--log-level", "loud"],
    ["archive", "--key-layout", "weekly"],
    ["verify", "--concurrency", "x"],
    ["verify", "--sample", "0"],
    ["export", "--dir", "/nonexistent", "--limit", "x"],
    ["query", "--limit", "0"],
    ["restore", "--topic", "t", "--fetch-concurrency", "x"],
    ["restore", "--topic", "t", "--max-inflight-mib", "0"],
    ["restore", "--topic", "t", "--max-rate", "fast"],
    ["restore", "--topic", "t", "--from-offset", "-3"],
    ["restore", "--topic", "t", "--progress", "loud"],
    ["healthz", "--url", "http://127.0.0.1:1/healthz", "--timeout", "x"],
    ["mock-hop", "--count", "x"],
    ["mock-hop", "--rate", "0"],
    ["serve", "--http-port", "65536"],
    ["serve", "--max-upload-mib", "x"],
    ["serve", "--public-topics", "a(b"],
    // beyond their range: refused at start-up, not taken (a timer of 2^31 ms or more fires at once)
    ["archive", "--http-port", "65536"],
    ["archive", "--put-concurrency", "100000"],
    ["archive", "--partitions-concurrency", "5000"],
    ["archive", "--max-inflight-mib", "99999999"],
    ["archive", "--session-timeout", "2147484"],
    ["archive", "--topic-refresh", "9999999"],
    ["healthz", "--url", "http://127.0.0.1:1/healthz", "--timeout", "2147484"],
    ["verify", "--concurrency", "100000"],
    ["export", "--dir", "/nonexistent", "--concurrency", "100000"],
    ["restore", "--topic", "t", "--fetch-concurrency", "100000"],
    ["restore", "--topic", "t", "--max-inflight-mib", "99999999999"],
    ["serve", "--upload-timeout", "2147484"],
    // a rate limiter's wait of 2^31 ms or more would not wait at all
    ["restore", "--topic", "t", "--max-rate", "0.00001"],
    ["restore", "--topic", "t", "--max-bytes-rate", "1"],
  ];
  for (const argv of cases) {
    const { code, stderr } = await run(argv);
    assert.equal(code, 2, `${argv.join(" ")}: exit ${code}\n${stderr}`);
    assert.match(stderr, /\[USAGE\]/, argv.join(" "));
    assert.match(stderr, new RegExp(argv.at(-2)!.replace(/^--/, "").replace(/-/g, "\\-")), argv.join(" "));
  }
});

Deno.test("the same bad value from the environment is CONFIG_INVALID, exit 1, naming the variable", async () => {
  const badEnv = {
    PUT_CONCURRENCY: "x",
    SESSION_TIMEOUT_SECONDS: "0",
    LOG_LEVEL: "loud",
    HTTP_PORT: "70000",
    TOPIC_REFRESH_SECONDS: "99999999",
    MAX_INFLIGHT_MIB: "1e9",
  };
  for (const [variable, value] of Object.entries(badEnv)) {
    const { code, stderr } = await run(["archive"], { [variable]: value });
    assert.equal(code, 1, `${variable}=${value}: exit ${code}\n${stderr}`);
    assert.match(stderr, /\[CONFIG_INVALID\]/, variable);
    if (variable !== "LOG_LEVEL") assert.match(stderr, new RegExp(`\\(from ${variable}\\)`), variable);
  }
  const { stderr } = await run(["archive"], { PUT_CONCURRENCY: "x" });
  assert.match(
    stderr,
    /--put-concurrency must be an integer from 1 to 1024, got "x" \(from PUT_CONCURRENCY\)/,
  );
  const healthz = await run(["healthz"], { HTTP_PORT: "99999" });
  assert.equal(healthz.code, 1, healthz.stderr);
  assert.match(healthz.stderr, /from 1 to 65535, got "99999" \(from HTTP_PORT\) \[CONFIG_INVALID\]/);
  // The flag wins over the environment, and so does its error.
  assert.equal((await run(["archive", "--put-concurrency", "y"], { PUT_CONCURRENCY: "8" })).code, 2);
});

Deno.test("flag parsers: values in range pass, anything else is refused", () => {
  const source = { command: "verify", flag: "n" };
  assert.equal(positiveInt(source, "12", 1), 12);
  assert.equal(positiveInt(source, undefined, 7), 7);
  assert.equal(positiveInt(source, undefined), undefined);
  for (const bad of ["0", "1.5", "1e3", "-2", " 3", "", "0x10", "9007199254740993"]) {
    assert.throws(() => positiveInt(source, bad), hasCode("USAGE"), bad);
  }
  assert.equal(intInRange(source, "0", { min: 0, max: 5 }, 1), 0);
  assert.throws(() => intInRange(source, "6", { min: 0, max: 5 }, 1), /from 0 to 5/);
  assert.equal(nonNegativeBigInt(source, "18446744073709551615"), 18446744073709551615n);
  assert.throws(() => nonNegativeBigInt(source, "-1"), hasCode("USAGE"));
  assert.equal(positiveNumber(source, "0.5"), 0.5);
  assert.throws(() => positiveNumber(source, "31", 30), /above 0 and at most 30/);
  assert.throws(() => positiveNumber(source, "Infinity"), hasCode("USAGE"));
  assert.equal(oneOf(source, "b", ["a", "b"] as const, "a"), "b");
  assert.throws(() => oneOf(source, "c", ["a", "b"] as const, "a"), /--n must be one of a, b, got "c"/);
  assert.match(usageError("verify", "bad").message, /^bad; see `housekeeping verify --help`$/);
  const [fromEnv, text] = flagOrEnv(
    "archive",
    "put-concurrency",
    {},
    { PUT_CONCURRENCY: "0" },
    "PUT_CONCURRENCY",
  );
  assert.equal(text, "0");
  assert.throws(() => positiveInt(fromEnv, text), hasCode("CONFIG_INVALID"));
});

Deno.test("booleans: true or false in any case, nothing else; USAGE from a flag, CONFIG_INVALID from a variable", () => {
  const flag = { command: "serve", flag: "read-only" };
  const variable = { ...flag, env: "READ_ONLY" };
  assert.equal(booleanValue(flag, "TRUE", false), true);
  assert.equal(booleanValue(flag, "False", true), false);
  assert.equal(booleanValue(flag, undefined, true), true);
  for (const bad of ["1", "0", "yes", "no", "on", "off", "y", "t", "", " true"]) {
    assert.throws(() => booleanValue(flag, bad, false), hasCode("USAGE"), bad);
    assert.throws(() => booleanValue(variable, bad, false), /must be true or false.*\(from READ_ONLY\)/, bad);
    assert.throws(() => booleanValue(variable, bad, false), hasCode("CONFIG_INVALID"), bad);
  }
  assert.equal(
    booleanFlagOrEnv("serve", "read-only", { "read-only": true }, { READ_ONLY: "nonsense" }, "READ_ONLY"),
    true,
  );
  assert.equal(booleanFlagOrEnv("serve", "read-only", {}, { READ_ONLY: "" }, "READ_ONLY"), false);
  assert.equal(booleanFlagOrEnv("serve", "read-only", {}, { READ_ONLY: "True" }, "READ_ONLY"), true);
});
