// `serve` with --hopauth-url and HOPAUTH_USERNAME/PASSWORD: hop-client's oversized uploads (`<topic>+oversized`)
// are public and text-indexed as hopauth's flags for their topic say, and a switch in hopauth applies while serve
// runs (real MinIO and PostgreSQL; the hopauth stand-in with real SCRAM-SHA-512, POLICY_REFRESH_SECONDS=1). The
// uploads go through this repository's SCRAM client (lib/hopauth/scram.ts), relayed by serve to the stand-in.
import { Binary, BSON } from "bson";
import assert from "node:assert/strict";
import { scramFetcher } from "../../lib/hopauth/scram.ts";
import { archiveEnv, schemaSql, spawnLogged, waitFor } from "../support/archive_helpers.ts";
import { serviceEnv } from "../support/helpers.ts";
import { idHeader, withServe } from "../support/serve_fixture.ts";

const enc = new TextEncoder();

function uploadBody(uuid: string, text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(BSON.serialize({
    message: new Binary(enc.encode(JSON.stringify({ title: text }))),
    headers: [["_id", new Binary(idHeader(uuid).value!)], ["_format", new Binary(enc.encode("json"))]],
    key: new Binary(enc.encode("key")),
  }));
}

Deno.test("serve --hopauth-url: uploads to <topic>+oversized follow the topic's hopauth flags, switched live", async () => {
  const topic = `pol-${crypto.randomUUID().slice(0, 8)}`;
  await withServe({
    publicTopics: "",
    auth: {
      users: { alice: "alice-pw", "archive-bot": "bot-pw" },
      permissions: { alice: { [topic]: ["Write"] } },
      topics: { [topic]: { archivable: true, publicly_readable: false, index_archived_text: false } },
    },
  }, async (f) => {
    const child = spawnLogged(
      ["serve", "--http-port", "0", "--http-host", "127.0.0.1", "--hopauth-url", f.hopauth.url],
      archiveEnv({
        S3_BUCKET: f.bucket,
        S3_ENDPOINT: serviceEnv("S3_ENDPOINT"),
        DATABASE_URL: serviceEnv("DATABASE_URL"),
        HOUSEKEEPING_DB_SCHEMA: f.schema,
        HOPAUTH_USERNAME: "archive-bot",
        HOPAUTH_PASSWORD: "bot-pw",
        POLICY_REFRESH_SECONDS: "1",
        LOG_LEVEL: "info",
      }),
    );
    const sql = schemaSql(f.schema);
    try {
      const port = await waitFor("serve to listen", () => {
        const line = child.lines.find((l) => l.includes("serve listening"));
        return Promise.resolve(line === undefined ? undefined : JSON.parse(line).port as number);
      });
      const base = `http://127.0.0.1:${port}`;
      const alice = scramFetcher({ username: "alice", password: "alice-pw" });
      const upload = async (uuid: string) => {
        const answer = await alice(`${base}/topic/${topic}+oversized`, {
          method: "POST",
          body: uploadBody(uuid, `upload ${uuid} GRB 221009A`),
        });
        assert.equal(answer.status, 201, await answer.clone().text());
        await answer.body?.cancel();
      };
      const flags = async (uuid: string) =>
        (await sql<{ public: boolean; indexed: boolean }[]>`
          SELECT m.public, EXISTS (SELECT 1 FROM message_ts ts WHERE ts.uuid = m.uuid) AS indexed
          FROM messages m WHERE m.uuid = ${uuid}::uuid`).map((r) => [r.public, r.indexed]);
      await waitFor(
        "serve's first policy fetch",
        () => Promise.resolve(f.hopauth.topicListings > 0 || undefined),
      );

      const first = crypto.randomUUID();
      await upload(first);
      assert.deepEqual(await flags(first), [[false, false]], "not public, not indexed: hopauth's flags");

      f.hopauth.setTopic(topic, { publicly_readable: true, index_archived_text: true });
      // Anonymous reads follow the policy too: once the message of the now public topic can be read without
      // credentials, serve has the new flags.
      await waitFor("serve to take the switch", async () => {
        const answer = await fetch(`${base}/msg/${first}/raw_file/v`);
        await answer.body?.cancel();
        return answer.status === 200 || undefined;
      });
      const second = crypto.randomUUID();
      await upload(second);
      assert.deepEqual(await flags(second), [[true, true]], "publicly_readable and index_archived_text on");
      assert.deepEqual(await flags(first), [[false, false]], "the earlier row keeps its flags");
      assert.ok(
        child.lines.every((l) => !l.includes("bot-pw") && !l.includes("alice-pw")),
        "no password logged",
      );
    } finally {
      await sql.end();
      child.kill("SIGTERM");
    }
    assert.equal((await child.done).code, 0, child.lines.join("\n"));
  });
});
