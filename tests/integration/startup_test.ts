// Every start-up failure is one coded line on stderr and exit 1 (2 for a bad flag value), never "unexpected error"
// and a stack trace: the binary is run as operators run it, a process of its own, against the real broker.
import assert from "node:assert/strict";
import { serviceEnv } from "../support/helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;

/** `housekeeping ...argv` in its own process with only `env` (and what Deno needs): exit code and stderr. */
async function housekeeping(argv: string[], env: Record<string, string>) {
  const home = Deno.env.get("HOME") ?? "/root";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", MAIN, ...argv],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: home,
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      // no personal hop auth.toml, no embedded index in the user's home
      XDG_CONFIG_HOME: env.XDG_CONFIG_HOME ?? "/nonexistent",
      LOG_LEVEL: "error",
      ...env,
    },
    stdin: "null",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Exactly one line on stderr, matching `pattern`, and the exit code. */
function assertOneLine(result: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected:\n${result.stderr}`);
  assert.doesNotMatch(lines[0]!, /unexpected error/);
  assert.match(lines[0]!, pattern);
  assert.equal(result.code, code, result.stderr);
}

Deno.test("start-up: a veto list that is a directory is a coded line naming --veto", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-veto-" });
  try {
    const env = { KAFKA_BROKERS: serviceEnv("KAFKA_BROKERS"), HOUSEKEEPING_DATA_DIR: dir };
    assertOneLine(
      await housekeeping(["archive", "--until-end", "--veto", dir], env),
      1,
      new RegExp(
        `^housekeeping archive: veto file ${dir} is a directory.*fix --veto / VETO_FILE \\[VETO_INVALID\\]$`,
      ),
    );
    assertOneLine(
      await housekeeping(["topics"], { ...env, VETO_FILE: dir }),
      1,
      /^housekeeping topics: veto file .* is a directory.*\[VETO_INVALID\]$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up: a port in use is a coded line naming the port setting, for archive and serve", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-port-" });
  const busy = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const port = String((busy.addr as Deno.NetAddr).port);
  try {
    const env = { KAFKA_BROKERS: serviceEnv("KAFKA_BROKERS"), HOUSEKEEPING_DATA_DIR: dir };
    assertOneLine(
      await housekeeping(["archive", "--until-end", "--http-port", port], env),
      1,
      new RegExp(
        `^housekeeping archive: cannot listen on 0\\.0\\.0\\.0:${port}: port ${port} is already in use.*` +
          `--http-port \\(HTTP_PORT\\).*\\[HTTP_LISTEN_FAILED\\]$`,
      ),
    );
    // serve needs an index at the current schema: the embedded one, made by `db migrate`.
    assert.equal((await housekeeping(["db", "migrate"], env)).code, 0);
    assertOneLine(
      await housekeeping(["serve"], { ...env, HTTP_PORT: port }),
      1,
      new RegExp(
        `^housekeeping serve: cannot listen on 0\\.0\\.0\\.0:${port}: port ${port} is already in use.*` +
          `\\[HTTP_LISTEN_FAILED\\]$`,
      ),
    );
    assertOneLine(
      await housekeeping(["serve", "--http-host", "192.0.2.1", "--http-port", "0"], env),
      1,
      /^housekeeping serve: cannot listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine: fix --http-host \(HTTP_HOST\) \[HTTP_LISTEN_FAILED\]$/,
    );
    assertOneLine(
      await housekeeping(["serve", "--http-host", "no-such-host.invalid", "--http-port", "0"], env),
      1,
      /the host name no-such-host\.invalid does not resolve: fix --http-host \(HTTP_HOST\) \[HTTP_LISTEN_FAILED\]$/,
    );
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up: bad values from the environment are one CONFIG_INVALID line naming the variable", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["serve"],
      { READ_ONLY: "1" },
      /--read-only must be true or false, got "1" \(from READ_ONLY\) \[CONFIG_INVALID\]$/,
    ],
    [["serve"], { READ_ONLY: "yes" }, /\(from READ_ONLY\) \[CONFIG_INVALID\]$/],
    [
      ["archive"],
      { HTTP_PORT: "70000" },
      /from 1 to 65535, got "70000" \(from HTTP_PORT\) \[CONFIG_INVALID\]$/,
    ],
    [
      ["archive", "--until-end"],
      { S3_ENDPOINT: "not a url", S3_BUCKET: "hk-startup" },
      /--s3-endpoint must be an http\(s\) URL .* got "not a url" \(from S3_ENDPOINT\) \[CONFIG_INVALID\]$/,
    ],
  ];
  // Before, a memory log that cannot be written crashed the process from a timer, as an uncaught NotFound.
  cases.push([
    ["status", "--data-dir", "/nonexistent/hk"],
    { HK_MEMLOG: "/nonexistent/dir/memlog" },
    /^housekeeping: HK_MEMLOG=\/nonexistent\/dir\/memlog cannot be written: .*fix or unset HK_MEMLOG \[CONFIG_INVALID\]$/,
  ]);
  for (const [argv, env, pattern] of cases) {
    assertOneLine(await housekeeping(argv, env), 1, pattern);
  }
  assertOneLine(
    await housekeeping(["archive", "--s3-endpoint", "ftp://x"], {}),
    2,
    /--s3-endpoint must be an http\(s\) URL .* \[USAGE\]$/,
  );
});

Deno.test("start-up: a data directory that is a file, a CA file without a certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-files-" });
  const file = `${dir}/not-a-dir`;
  await Deno.writeTextFile(file, "garbage\n");
  try {
    for (const command of ["status", "archive"]) {
      assertOneLine(
        await housekeeping([command, "--data-dir", `${file}/below`], {
          KAFKA_BROKERS: serviceEnv("KAFKA_BROKERS"),
        }),
        1,
        new RegExp(
          `^housekeeping ${command}: the data directory ${file}/below is not a directory .*` +
            "fix --data-dir \\(HOUSEKEEPING_DATA_DIR\\).* \\[CONFIG_INVALID\\]$",
        ),
      );
    }
    // Before, kafkajs retried "unable to verify the first certificate" on every connection instead.
    assertOneLine(
      await housekeeping(["topics", "--security-protocol", "SSL"], {
        KAFKA_BROKERS: serviceEnv("KAFKA_SSL_BROKERS"),
        KAFKA_CA_FILE: file,
      }),
      1,
      /cannot use the CA file .*: no PEM certificate in it; fix --ca-file \(KAFKA_CA_FILE\).* \[KAFKA_CA_FILE_UNREADABLE\]$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
