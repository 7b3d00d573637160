// `db status` / `db migrate` against real PostgreSQL (a new schema and one holding the original housekeeping's
// table), and `topics` against the real broker with a veto list.
import assert from "node:assert/strict";
import { parseDbArgs, pendingMigrations } from "../../lib/commands/db.ts";
import { parseTopicsArgs, topicsJson, topicsTable } from "../../lib/commands/topics.ts";
import type { DecisionCategory } from "../../lib/topics/policy.ts";
import { startHopAuthStandIn } from "../support/hopauth_standin.ts";
import { MIGRATIONS } from "../../lib/index/migrations.ts";
import {
  archiveEnv,
  dropSchema,
  schemaSql,
  testIds,
  withArchiveScenario,
} from "../support/archive_helpers.ts";
import { runInProcess } from "../support/admin_fixture.ts";

const LATEST = MIGRATIONS.at(-1)!.version;

Deno.test("db and topics: argument parsing and pure parts", () => {
  assert.equal(parseDbArgs(["status", "--check", "--json"], {}).action, "status");
  assert.equal(parseDbArgs(["migrate"], {}).action, "migrate");
  for (const bad of [[], ["drop"], ["status", "extra"], ["migrate", "--check"]]) {
    assert.throws(
      () => parseDbArgs(bad, {}),
      (e: Error & { code?: string }) => e.code === "USAGE",
      bad.join(" "),
    );
  }
  assert.deepEqual(pendingMigrations(0).map((m) => m.version), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(pendingMigrations(LATEST), []);
  assert.equal(parseTopicsArgs(["--json"], {}).json, true);
  const decision = (archive: boolean, category: DecisionCategory, reason: string) => ({
    archive,
    category,
    public: false,
    indexText: false,
    source: "static",
    reason,
  });
  const reports = [
    { topic: "b", readable: true, decision: decision(true, "archived", "readable and not vetoed") },
    { topic: "__consumer_offsets", readable: true, decision: decision(false, "internal", "x") },
    { topic: "a", readable: true, decision: decision(true, "archived", "readable and not vetoed") },
  ];
  assert.deepEqual(topicsJson(reports)[1], {
    topic: "__consumer_offsets",
    readable: true,
    archived: false,
    public: false,
    index_text: false,
    source: "static",
    reason: "internal",
    detail: "x",
  });
  const table = topicsTable(reports, { source: "static" }).split("\n");
  assert.match(
    table[2]!,
    /^a\s+yes\s+no\s+no\s+static\s+readable and not vetoed$/,
    "archived topics first, by name",
  );
  assert.match(table.at(-2)!, /2 of 3 readable topics are archived; policy: static/);
});

Deno.test("db status and db migrate: a new schema, then the original housekeeping's table upgraded in place", async () => {
  const { schema } = testIds("db");
  const legacy = `${schema}_orig`;
  const env = archiveEnv();
  const db = (schemaName: string, ...argv: string[]) =>
    runInProcess(["db", ...argv, "--db-schema", schemaName], env);
  try {
    const before = await db(schema, "status", "--json");
    assert.equal(before.code, 0, before.stdout);
    assert.deepEqual(JSON.parse(before.stdout).current, 0);
    assert.equal(JSON.parse(before.stdout).pending.length, MIGRATIONS.length);
    assert.equal(
      (await db(schema, "status", "--check")).code,
      1,
      "--check fails while migrations are pending",
    );
    // Read-only commands refuse an index that is not there rather than creating one.
    assert.equal((await runInProcess(["query", "--db-schema", schema], env)).code, 1);

    const migrated = await db(schema, "migrate");
    assert.equal(migrated.code, 0);
    assert.equal(migrated.stdout, `migrated the index schema from version 0 to ${LATEST}\n`);
    const after = await db(schema, "status");
    assert.match(
      after.stdout,
      new RegExp(`schema version: ${LATEST} \\(this housekeeping: ${LATEST}\\)\\nup to date`),
    );
    assert.equal((await db(schema, "status", "--check")).code, 0);
    assert.equal((await db(schema, "migrate")).stdout, `already at schema version ${LATEST}\n`);
    assert.equal((await runInProcess(["query", "--db-schema", schema], env)).code, 0);

    // The original archiver's table, created as it did (no schema_migrations), with one of its rows.
    const sql = schemaSql(legacy);
    try {
      await sql.unsafe(`create schema if not exists "${legacy}"`);
      await sql.unsafe(
        `CREATE TABLE "${legacy}".messages (id BIGSERIAL PRIMARY KEY, topic TEXT, timestamp BIGINT,
        uuid TEXT, size INTEGER, key TEXT, bucket TEXT, crc32 BIGINT, is_client_uuid BOOLEAN, message_crc32 BIGINT)`,
      );
      await sql.unsafe(
        `insert into "${legacy}".messages (topic, timestamp, uuid, size, key, bucket, crc32, is_client_uuid,
          message_crc32) values ('gcn.circular', 1674000000123, '12345678-1234-4678-9234-567812345678', 404,
          'gcn.circular/2023/1/18/0/12345678-1234-4678-9234-567812345678.bson', 'hop-archive', 1, true, 4221669015)`,
      );
    } finally {
      await sql.end();
    }
    const old = JSON.parse((await db(legacy, "status", "--json")).stdout);
    assert.equal(old.current, 0);
    assert.equal(old.upToDate, false);
    assert.equal((await db(legacy, "migrate", "--json")).code, 0);
    const rows = await runInProcess(["query", "--db-schema", legacy], env);
    const row = JSON.parse(rows.stdout);
    assert.equal(row.uuid, "12345678-1234-4678-9234-567812345678");
    assert.equal(row.partition, null, "unknown coordinates stay unknown");
    assert.equal(row.archived_at, null);
    assert.equal(row.message_crc32, 4221669015);
  } finally {
    await dropSchema(schema);
    await dropSchema(legacy);
  }
});

Deno.test("topics: archived, vetoed by name, vetoed by pattern, internal", async () => {
  await withArchiveScenario("topics", { topics: ["kept", "named", "patterned"] }, async (s) => {
    const { id, dir } = s;
    const [kept, named, patterned] = s.topics as [string, string, string];
    const veto = `${dir}/veto.yaml`;
    await Deno.writeTextFile(veto, `topics:\n  - ${named}\npatterns:\n  - ".*\\\\.patterned"\n`);
    const run = await runInProcess(["topics", "--json", "--veto", veto], archiveEnv());
    assert.equal(run.code, 0, run.stdout);
    const all = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const mine = Object.fromEntries(all.filter((r) => r.topic.startsWith(id)).map((r) => [r.topic, r]));
    assert.deepEqual(mine[kept], {
      topic: kept,
      readable: true,
      archived: true,
      public: false,
      index_text: false,
      source: "static",
      reason: null,
      detail: null,
    });
    assert.deepEqual([mine[named].archived, mine[named].reason], [false, "vetoed"]);
    assert.match(mine[named].detail, /listed in/);
    assert.deepEqual([mine[patterned].archived, mine[patterned].reason], [false, "vetoed"]);
    assert.match(mine[patterned].detail, /matches/);
    const internal = all.find((r) => r.topic === "__consumer_offsets");
    assert.deepEqual(
      [internal.archived, internal.reason, internal.detail],
      [false, "internal", "Kafka internal topic"],
    );
    const table = await runInProcess(["topics", "--veto", veto], archiveEnv());
    assert.match(
      table.stdout,
      new RegExp(`^${kept.replaceAll(".", "\\.")}\\s+yes\\s+no\\s+no\\s+static\\s`, "m"),
    );
    assert.match(
      table.stdout,
      new RegExp(`^${named.replaceAll(".", "\\.")}\\s+no\\s+no\\s+no\\s+static\\s+vetoed: listed in`, "m"),
    );
    assert.equal((await runInProcess(["topics", "--veto", `${dir}/missing.yaml`], archiveEnv())).code, 1);
  });
});

Deno.test("topics --hopauth-url: each topic's decision from hopauth's flags, with its source", async () => {
  await withArchiveScenario("topics-hopauth", { topics: ["arch", "off", "vetoed"] }, async (s) => {
    const [arch, off, vetoed] = s.topics as [string, string, string];
    const gone = s.topic("not-in-kafka");
    const hopauth = startHopAuthStandIn({
      users: { lister: "lister-pw" },
      permissions: {},
      topics: {
        [arch]: { archivable: true, publicly_readable: true, index_archived_text: false },
        [off]: { archivable: false, publicly_readable: false },
        [vetoed]: { archivable: true },
        [gone]: { archivable: true },
      },
    });
    try {
      const veto = `${s.dir}/veto.yaml`;
      await Deno.writeTextFile(veto, `topics: [${vetoed}]\n`);
      const env = { ...archiveEnv(), HOPAUTH_USERNAME: "lister", HOPAUTH_PASSWORD: "lister-pw" };
      const run = await runInProcess(["topics", "--json", "--veto", veto, "--hopauth-url", hopauth.url], env);
      assert.equal(run.code, 0, run.stderr + run.logs.join("\n"));
      const all = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const mine = Object.fromEntries(all.filter((r) => r.topic.startsWith(s.id)).map((r) => [r.topic, r]));
      const row = (t: string) => {
        const r = mine[t];
        return [r.readable, r.archived, r.public, r.index_text, r.source, r.reason];
      };
      assert.deepEqual(row(arch), [true, true, true, false, "hopauth", null]);
      assert.deepEqual(
        row(off),
        [true, false, false, true, "hopauth", "not_archivable"],
        "scimma-admin's default",
      );
      assert.deepEqual(row(vetoed), [true, false, false, true, "hopauth", "vetoed"]);
      assert.deepEqual(row(gone), [false, false, false, true, "hopauth", "unreadable"]);
      const table = await runInProcess(["topics", "--veto", veto, "--hopauth-url", hopauth.url], env);
      assert.match(table.stdout, /policy: hopauth, fetched \d+ s ago\n$/);
      assert.match(
        table.stdout,
        new RegExp(
          `^${
            off.replaceAll(".", "\\.")
          }\\s+no\\s+no\\s+yes\\s+hopauth\\s+not_archivable: not archivable in hopauth$`,
          "m",
        ),
      );
      const wrong = await runInProcess(["topics", "--hopauth-url", hopauth.url], {
        ...env,
        HOPAUTH_PASSWORD: "wrong",
      });
      assert.equal(wrong.code, 1);
      const said = wrong.logs.join("\n");
      assert.match(said, /SCRAM authentication failed/);
      assert.ok(!said.includes("lister-pw") && !said.includes('"wrong"'), said);
    } finally {
      await hopauth.close();
    }
  });
});
