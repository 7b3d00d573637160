// The whole offload loop with hop-client as producer and consumer: a message larger than the topic's
// max.message.bytes goes to `serve`, a placeholder goes to Kafka, and the consumer fetches the original back.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { clientUuid } from "../../lib/format/identity.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
import { adminKafka, deleteTopics } from "../support/archive_helpers.ts";
import { runPython, serviceEnv, uniqueName } from "../support/helpers.ts";
import { withServe } from "../support/serve_fixture.ts";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

Deno.test("serve: hop-client offloads an oversized message through serve and its consumer gets it back", async () => {
  const topic = uniqueName("offload");
  const user = serviceEnv("KAFKA_USERNAME");
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: "max.message.bytes", value: "20000" }] }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  try {
    // Not public: the consumer's fetch must authenticate with its own credential over HTTP SCRAM.
    await withServe({
      publicTopics: "",
      auth: {
        users: { [user]: serviceEnv("KAFKA_PASSWORD") },
        permissions: { [user]: { [topic]: ["All"] } },
      },
    }, async (f) => {
      const payload = new Uint8Array(randomBytes(200_000));
      const userHeader = Uint8Array.of(0, 0xff, 0x68);
      const out = JSON.parse(
        await runPython(
          "serve_peer.py",
          ["roundtrip"],
          new TextEncoder().encode(JSON.stringify({
            broker: serviceEnv("KAFKA_SASL_BROKERS"),
            topic,
            username: user,
            password: serviceEnv("KAFKA_PASSWORD"),
            offload_url: f.url,
            payload: b64(payload),
            headers: [["origin", b64(userHeader)]],
            key: b64(new TextEncoder().encode("k1")),
          })),
        ),
      );
      assert.equal(out.messages.length, 1);
      const [got] = out.messages;
      assert.deepEqual(unb64(got.content), payload, "the consumer's message is the original, byte for byte");
      const headers = got.headers.map(([k, v]: [string, string]) => ({ key: k, value: unb64(v) }));
      assert.deepEqual(headers.find((h: { key: string }) => h.key === "origin").value, userHeader);
      assert.deepEqual(unb64(got.key), new TextEncoder().encode("k1"));

      // In the archive: one object under <topic>+oversized named by the message's _id, holding what was posted.
      const uuid = clientUuid(headers)!;
      const rows = await f.index.select({ topics: [`${topic}+oversized`] }, { limit: 10 });
      assert.deepEqual(rows.map((r) => r.uuid), [uuid]);
      const object = decodeArchiveObject((await f.store.get(rows[0]!.key))!);
      assert.deepEqual(object.value, payload);
      assert.deepEqual(object.headers, headers);
      assert.equal(object.timestamp, BigInt(got.timestamp));
      // The consumer authenticated through the stand-in: first round, then a verified final round.
      assert.deepEqual(
        f.hopauth.calls.filter((c) => c.phase === "final").map((c) => c.status),
        [200, 200],
        "one SCRAM login to post, one to fetch",
      );
    });
  } finally {
    await deleteTopics([topic]);
  }
});
