// Topics coming and going under the archiver, and credentials from a hop auth.toml.
import assert from "node:assert/strict";
import { uuidText } from "../../lib/format/identity.ts";
import { createFsStore } from "../../lib/store/fs.ts";
import { serviceEnv } from "../support/helpers.ts";
import {
  adminKafka,
  createTopics,
  deleteTopics,
  peerProduce,
  runMain,
  schemaSql,
  spawnLogged,
  waitFor,
  withArchiveScenario,
} from "../support/archive_helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const id16 = (n: number) => new Uint8Array(16).fill(n);

Deno.test("archive: a deleted and re-created topic is archived again without colliding with its first life", async () => {
  await withArchiveScenario("arch-recreate", { topics: ["t"] }, async (s) => {
    const [topic] = s.topics as [string];
    const args = ["archive", "--until-end", ...s.flags];
    await peerProduce(topic, [
      { value: bytes("first life A"), headers: [["_id", id16(1)]] },
      { value: bytes("legacy"), timestamp: 1_700_000_000_000 },
      { value: bytes("first life C"), headers: [["_id", id16(3)]] },
    ]);
    const first = await runMain(args, s.env);
    assert.equal(first.code, 0, first.stderr);

    await deleteTopics([topic]);
    await waitFor("topic deleted", async () => {
      const admin = adminKafka().admin();
      await admin.connect();
      try {
        return (await admin.listTopics()).includes(topic) ? undefined : true;
      } finally {
        await admin.disconnect();
      }
    });
    await createTopics([topic]);
    await peerProduce(topic, [
      { value: bytes("second life B"), headers: [["_id", id16(2)]] }, // offset 0 again
      { value: bytes("second life D"), headers: [["_id", id16(4)]] },
      // Identical to the first life's legacy record, at another offset: a receipt. (At the SAME offset it would be
      // indistinguishable from a replay of that record, and is treated as one: nothing differs to be lost.)
      { value: bytes("legacy"), timestamp: 1_700_000_000_000 },
      { value: bytes("second life E"), headers: [["_id", id16(5)]] },
    ]);
    const second = await runMain(args, s.env);
    assert.equal(second.code, 0, second.stderr);

    const sql = schemaSql(s.schema);
    try {
      const rows = await sql<{ uuid: string; offset: bigint }[]>`
        SELECT uuid, "offset" FROM messages WHERE topic = ${topic} ORDER BY archived_at, "offset"`;
      const uuids = rows.map((r) => r.uuid);
      for (const n of [1, 2, 3, 4, 5]) assert.ok(uuids.includes(uuidText(id16(n))), `record ${n} archived`);
      assert.equal(rows.length, 6, "five client messages and one legacy message");
      const receipts = await sql<{ offset: bigint; timestamp: bigint }[]>`
        SELECT "offset", timestamp FROM receipts WHERE topic = ${topic}`;
      assert.deepEqual(receipts.map((r) => [Number(r.offset), Number(r.timestamp)]), [[
        2,
        1_700_000_000_000,
      ]]);
    } finally {
      await sql.end();
    }
    // Both lives' objects sit side by side in the store: six objects under the topic.
    let objects = 0;
    for await (const o of (await createFsStore(s.storeDir)).list(`${topic}/`)) objects += o.size > 0 ? 1 : 0;
    assert.equal(objects, 6);
  });
});

Deno.test("archive: a topic deleted while the service runs does not stop it; other topics keep being archived", async () => {
  await withArchiveScenario("arch-deleted", { topics: ["doomed", "alive"] }, async (s) => {
    const [doomed, alive] = s.topics as [string, string];
    const archiver = spawnLogged(["archive", ...s.flags, "--topic-refresh", "1"], s.env);
    const count = async (topic: string) => {
      const sql = schemaSql(s.schema);
      try {
        return (await sql`SELECT count(*)::int AS n FROM messages WHERE topic = ${topic}`)[0]!.n as number;
      } catch {
        return 0; // the schema is created by the archiver at start
      } finally {
        await sql.end();
      }
    };
    try {
      await peerProduce(doomed, [{ value: bytes("before") }]);
      await peerProduce(alive, [{ value: bytes("one") }]);
      await waitFor(
        "both topics archived",
        async () => (await count(doomed)) === 1 && (await count(alive)) === 1 || undefined,
      );
      await deleteTopics([doomed]);
      await new Promise((r) => setTimeout(r, 3000)); // a few refresh cycles without the topic
      await peerProduce(alive, [{ value: bytes("two") }, { value: bytes("three") }]);
      await waitFor(
        "the surviving topic still archived",
        async () => (await count(alive)) === 3 || undefined,
        90,
      );
      assert.equal(archiver.exited, false, `archiver exited:\n${archiver.lines.join("\n")}`);
      archiver.kill("SIGTERM");
      assert.equal((await archiver.done).code, 0, archiver.lines.join("\n"));
    } finally {
      archiver.kill("SIGKILL");
      await archiver.done;
    }
  });
});

Deno.test("archive: credentials from a hop auth.toml select the SASL entry for the broker", async () => {
  await withArchiveScenario("arch-hopauth", { topics: ["t"] }, async (s) => {
    const [topic] = s.topics as [string];
    const auth = `${s.dir}/auth.toml`;
    const broker = serviceEnv("KAFKA_SASL_BROKERS");
    await Deno.writeTextFile(
      auth,
      `[[auth]]\nusername = "nobody"\npassword = "wrong"\nhostname = "kafka.example.org:9092"\n\n` +
        `[[auth]]\nusername = "${serviceEnv("KAFKA_USERNAME")}"\npassword = "${
          serviceEnv("KAFKA_PASSWORD")
        }"\n` +
        `protocol = "SASL_PLAINTEXT"\nmechanism = "SCRAM-SHA-512"\nhostname = "${broker}"\n`,
    );
    await Deno.chmod(auth, 0o600);
    await peerProduce(topic, [{ value: bytes("via auth.toml") }]);
    const env: Record<string, string> = { ...s.env, KAFKA_BROKERS: broker };
    delete env.KAFKA_SECURITY_PROTOCOL; // the auth.toml entry says SASL_PLAINTEXT
    const run = await runMain(["archive", "--until-end", ...s.flags, "--hop-auth", auth], env);
    assert.equal(run.code, 0, run.stderr);
    const sql = schemaSql(s.schema);
    try {
      assert.equal((await sql`SELECT count(*)::int AS n FROM messages WHERE topic = ${topic}`)[0]!.n, 1);
    } finally {
      await sql.end();
    }
    assert.ok(!run.stderr.includes(serviceEnv("KAFKA_PASSWORD")), "the password never reaches the logs");
  });
});
