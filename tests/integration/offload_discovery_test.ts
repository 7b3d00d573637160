// Offload discovery: `offload-endpoint` publishes serve's URL to sys.metadata (idempotently), and hop-client,
// configured only as a user configures it (credential and broker URL), finds it there: its producer offloads a
// message larger than the topic allows through serve, and another hop-client consumer reads it back byte for byte,
// on a public and on a private topic.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { adminKafka, archiveEnv, deleteTopics, runMain } from "../support/archive_helpers.ts";
import { runPython, serviceEnv, uniqueName } from "../support/helpers.ts";
import { withServe } from "../support/serve_fixture.ts";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

async function endOffset(topic: string): Promise<string> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === 0)!.high;
  } finally {
    await admin.disconnect();
  }
}

Deno.test("offload-endpoint: publishes once; again only when the URL changes", async () => {
  const topic = uniqueName("meta");
  const publish = (url: string) =>
    runMain(["offload-endpoint", url, "--metadata-topic", topic], archiveEnv());
  try {
    const first = await publish("https://archive.example.org/");
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /^published: .* \{"LargeMessageUploadEndpoint": "https:\/\/archive\.example\.org"\}/,
    );
    const again = await publish("https://archive.example.org");
    assert.match(again.stdout, /^unchanged/);
    assert.equal(await endOffset(topic), "1");
    assert.match((await publish("https://other.example.org")).stdout, /^published/);
    assert.match((await publish("https://archive.example.org")).stdout, /^published/);
    assert.equal(await endOffset(topic), "3");
    const bad = await publish("ftp://archive.example.org");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /must be http\(s\)/);
  } finally {
    await deleteTopics([topic]);
  }
});

Deno.test("hop-client configured as a user offloads through serve, found via sys.metadata", async (t) => {
  const user = serviceEnv("KAFKA_USERNAME");
  const open = uniqueName("lmo-pub");
  const closed = uniqueName("lmo-priv");
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [open, closed].map((topic) => ({
        topic,
        numPartitions: 1,
        configEntries: [{ name: "max.message.bytes", value: "20000" }],
      })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  try {
    await withServe({
      publicTopics: open,
      auth: {
        users: { [user]: serviceEnv("KAFKA_PASSWORD") },
        permissions: { [user]: { [open]: ["All"], [closed]: ["All"] } },
      },
    }, async (f) => {
      // The shared broker's sys.metadata points at this test's serve while it runs (other tests set hop-client's
      // offload URL themselves); it is emptied afterwards.
      const published = await runMain(["offload-endpoint", f.url], archiveEnv());
      assert.equal(published.code, 0, published.stderr);
      try {
        for (const topic of [open, closed]) {
          await t.step(
            topic === open ? "public topic" : "private topic (the fetch authenticates)",
            async () => {
              const payload = new Uint8Array(randomBytes(150_000));
              const out = JSON.parse(
                await runPython(
                  "serve_peer.py",
                  ["user"],
                  new TextEncoder().encode(JSON.stringify({
                    broker: serviceEnv("KAFKA_SASL_BROKERS"),
                    topic,
                    username: user,
                    password: serviceEnv("KAFKA_PASSWORD"),
                    offload_url: null,
                    payload: b64(payload),
                    headers: [["origin", b64(Uint8Array.of(0, 0xff))]],
                    key: b64(new TextEncoder().encode("k")),
                  })),
                ),
              );
              assert.equal(out.messages.length, 1);
              assert.deepEqual(unb64(out.messages[0].content), payload, "read back byte for byte");
              const rows = await f.index.select({ topics: [`${topic}+oversized`] }, { limit: 10 });
              assert.equal(rows.length, 1, "offloaded to serve, not sent through Kafka");
            },
          );
        }
      } finally {
        const producer = adminKafka().producer();
        await producer.connect();
        await producer.send({
          topic: "sys.metadata",
          messages: [{ key: "LargeMessageUploadEndpoint", value: "{}" }],
        });
        await producer.disconnect();
      }
    });
  } finally {
    await deleteTopics([open, closed]);
  }
});
