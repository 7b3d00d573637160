// The README's first command as a newcomer meets it: a copy of the repository with nothing beside it (no ../shared),
// no settings in the environment, no services running, then `make run`; and once more in a shell whose environment
// points at other services, which the demo must ignore. Its Kafka is private (own state directory and ports), so
// the shared test services are neither used nor disturbed.
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { ROOT } from "../support/archive_helpers.ts";

const decoder = new TextDecoder();
// Away from the shared set (19092..) and the fault tests' (29092.. plus a shift).
const PORTS = {
  HK_KAFKA_PORT: "27092",
  HK_KAFKA_SASL_PORT: "27093",
  HK_KAFKA_CONTROLLER_PORT: "27094",
  HK_KAFKA_SSL_PORT: "27095",
};

/** The files a clone of the working tree would hold: tracked and new, not ignored, not deleted. */
async function copyOfWorkingTree(into: string): Promise<void> {
  const ls = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.equal(ls.code, 0, "git ls-files");
  for (const path of decoder.decode(ls.stdout).split("\0").filter((p) => p !== "")) {
    const info = await Deno.lstat(`${ROOT}${path}`).catch(() => null);
    if (info === null || info.isDirectory) continue; // deleted in the working tree, or a submodule
    await Deno.mkdir(dirname(`${into}/${path}`), { recursive: true });
    await Deno.copyFile(`${ROOT}${path}`, `${into}/${path}`);
    if (info.mode !== null) await Deno.chmod(`${into}/${path}`, info.mode & 0o777);
  }
}

async function sh(cwd: string, env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(args[0]!, { args: args.slice(1), cwd, env, clearEnv: true }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Objects the manifest says the archive keeps: every record that is neither a receipt nor on a vetoed topic. */
async function predictedObjects(manifest: string): Promise<number> {
  const lines = (await Deno.readTextFile(manifest)).split("\n").filter((l) => l !== "");
  return lines.map((l) => JSON.parse(l)).filter((r) => r.duplicate_of === null && !r.vetoed).length;
}

async function countObjects(dir: string): Promise<number> {
  let n = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) n += await countObjects(`${dir}/${entry.name}`);
    else if (entry.name.endsWith(".bson")) n++;
  }
  return n;
}

Deno.test("make run on a fresh copy with nothing beside it: the embedded defaults, twice in a row", async () => {
  const top = await Deno.makeTempDir({ prefix: "hk-newcomer-" });
  const repo = `${top}/housekeeping`;
  // Deno as the pinned one on PATH (scripts/deno.sh takes it); HOME keeps the download caches warm.
  const base = {
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    HOME: Deno.env.get("HOME") ?? "/root",
    HK_STATE_DIR: `${top}/state`,
    ...PORTS,
    ...(Deno.env.get("HK_CACHE_DIR") ? { HK_CACHE_DIR: Deno.env.get("HK_CACHE_DIR")! } : {}),
  };
  try {
    await copyOfWorkingTree(repo);
    assert.deepEqual(
      [...Deno.readDirSync(top)].map((e) => e.name),
      ["housekeeping"],
      "nothing beside the copy",
    );

    const first = await sh(repo, base, "make", "--no-print-directory", "run");
    assert.equal(
      first.code,
      0,
      `make run failed:\n${first.stderr.slice(-4000)}\n${first.stdout.slice(-2000)}`,
    );
    const demo = `${repo}/.scratch/demo`;
    const expected = await predictedObjects(`${demo}/manifest.jsonl`);
    assert.ok(expected > 300, `the manifest predicts ${expected} objects`);
    assert.equal(await countObjects(`${demo}/objects`), expected);
    assert.match(first.stdout, new RegExp(`checked ${expected} index rows, listed ${expected} objects\\nOK`));
    assert.match(first.stderr + first.stdout, /using the embedded PostgreSQL \(PGlite\) index/);
    assert.ok(
      (await Deno.stat(`${demo}/index/pgdata/PG_VERSION`)).isFile,
      "the index is PGlite's data directory",
    );
    assert.match(first.stdout, /== consumer group "housekeeping-demo-[^"]+": lag per partition/);
    assert.match(first.stdout, /inspect [0-9a-f-]{36}\n/);
    assert.match(first.stdout, /restore --dry-run /);
    // A cold broker answers the first coordinator requests with errors kafkajs retries: not errors to a newcomer.
    const archiveLog = await Deno.readTextFile(`${demo}/archive.log`);
    const errorLines = (first.stderr + archiveLog).split("\n").filter((l) => /"level":"error"/.test(l));
    assert.deepEqual(errorLines, [], "error lines logged by mock-hop or the archive");

    // A shell that still holds the test services' settings (as after `eval "$(scripts/services.sh env)"`), one that
    // is unreachable: the demo must stay on its own Kafka, directory store and PGlite, and add no second copy.
    const elsewhere = {
      DATABASE_URL: "postgres://nobody:secret@127.0.0.1:1/none",
      PGHOST: "127.0.0.1",
      S3_BUCKET: "no-such-bucket",
      S3_ENDPOINT: "http://127.0.0.1:1",
      KAFKA_BROKERS: "127.0.0.1:1",
      KAFKA_USERNAME: "nobody",
      KAFKA_PASSWORD: "secret",
      HOUSEKEEPING_STORE: "s3://no-such-bucket",
    };
    const second = await sh(repo, { ...base, ...elsewhere }, "make", "--no-print-directory", "run");
    assert.equal(second.code, 0, `second make run failed:\n${second.stderr.slice(-4000)}`);
    assert.equal(await predictedObjects(`${demo}/manifest.jsonl`), expected, "the same traffic again");
    assert.equal(await countObjects(`${demo}/objects`), expected, "a second run stores no second copy");
    assert.match(
      second.stdout,
      new RegExp(`checked ${expected} index rows, listed ${expected} objects\\nOK`),
    );
    // The demo's texts are indexed, so the search page it points at finds words (and shows snippets).
    const search = await sh(
      repo,
      { ...base, HOUSEKEEPING_DATA_DIR: demo },
      "scripts/deno.sh",
      "run",
      "-A",
      "--frozen",
      "main.ts",
      "search",
      "GRB",
      "--json",
    );
    assert.equal(search.code, 0, search.stderr);
    assert.ok(
      search.stdout.split("\n").filter(Boolean).length > 0,
      "a word of the demo's circulars is found",
    );
  } finally {
    const started = await Deno.stat(`${repo}/scripts/services.sh`).then(() => true, () => false);
    const down = started ? await sh(repo, base, "scripts/services.sh", "down") : null;
    await Deno.remove(top, { recursive: true });
    if (down) assert.equal(down.code, 0, down.stderr);
  }
});
