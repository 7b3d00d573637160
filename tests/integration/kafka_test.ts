// kafkajs through createKafka against the real Kafka 4.x broker of scripts/services.sh, with confluent-kafka
// (librdkafka, what hop-client uses) as the independent peer on the other side.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { CompressionCodecs, CompressionTypes, type Kafka, type KafkaMessage, logLevel } from "kafkajs";
import {
  createKafka,
  kafkajsEntryLevel,
  type KafkaSettings,
  messageTimestampType,
  translateKafkaError,
} from "../../lib/kafka/client.ts";
import { installCodecs } from "../../lib/kafka/codecs.ts";
import { wireHeaders } from "../../lib/kafka/wire_headers.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import { consumeUntil, runPython, serviceEnv, uniqueName } from "../support/helpers.ts";

const logLines: string[] = [];
const log = createLogger({ level: "debug", sink: (line) => logLines.push(line) });

function plainSettings(): KafkaSettings {
  return { brokers: [serviceEnv("KAFKA_BROKERS")], clientId: "kafka-test", securityProtocol: "PLAINTEXT" };
}

function saslSettings(password = serviceEnv("KAFKA_PASSWORD")): KafkaSettings {
  return {
    brokers: [serviceEnv("KAFKA_SASL_BROKERS")],
    clientId: "kafka-test-sasl",
    securityProtocol: "SASL_PLAINTEXT",
    sasl: { mechanism: "SCRAM-SHA-512", username: serviceEnv("KAFKA_USERNAME"), password },
  };
}

async function withTopic<T>(
  kafka: Kafka,
  fn: (topic: string) => Promise<T>,
  configEntries: Array<{ name: string; value: string }> = [],
): Promise<T> {
  const topic = uniqueName("kafka-test");
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries }], waitForLeaders: true });
    return await fn(topic);
  } finally {
    // Groups are named after their topic (see consumeAll and peer_consume.py), so none outlives its test.
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((id) => id.startsWith(topic));
    if (mine.length > 0) await admin.deleteGroups(mine);
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  }
}

/** Consumes `count` messages in a fresh group with manual commits; returns them and the group id. */
async function consumeAll(kafka: Kafka, topic: string, count: number) {
  const groupId = uniqueName(`${topic}-group`);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const messages: KafkaMessage[] = [];
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumeUntil(
      consumer,
      30,
      () => `${messages.length}/${count} messages`,
      async ({ partition, message }) => {
        messages.push(message);
        await consumer.commitOffsets([{
          topic,
          partition,
          offset: (BigInt(message.offset) + 1n).toString(),
        }]);
        return messages.length >= count;
      },
      { autoCommit: false },
    );
  } finally {
    await consumer.disconnect();
  }
  return { messages, groupId };
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const b64 = (bytes: Uint8Array | null) => bytes === null ? null : Buffer.from(bytes).toString("base64");
const unb64 = (text: string | null) => text === null ? null : new Uint8Array(Buffer.from(text, "base64"));
const view = (bytes: Uint8Array | null) =>
  bytes === null ? null : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

interface PeerRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: WireHeader[];
}

// Large and compressible enough that LZ4 needs several 64 KiB blocks and snappy several fragments.
const BIG_VALUE = utf8(
  Array.from({ length: 6000 }, (_, i) => `{"seq":${i},"text":"GRB ${i * 7} observed"}`).join("\n"),
);

const HOP_STYLE: PeerRecord[] = [
  {
    key: null,
    value: Uint8Array.of(0xff, 0x00, 0xfe, 0x80, 0x7f),
    headers: [
      { key: "dup", value: utf8("first") },
      { key: "other", value: new Uint8Array(0) },
      { key: "dup", value: null },
      { key: "bin", value: Uint8Array.of(0xff, 0xfe, 0x00, 0x80) },
      { key: "dup", value: utf8("third") },
      { key: "_id", value: Uint8Array.from({ length: 16 }, (_, i) => 255 - i) },
      { key: "_sender", value: utf8("alice") },
      { key: "_format", value: utf8("blob") },
      { key: "nul", value: null },
    ],
  },
  { key: utf8("k"), value: new Uint8Array(0), headers: [] },
  {
    key: Uint8Array.of(0, 1, 2),
    value: null,
    headers: [{ key: "a", value: utf8("1") }, { key: "a", value: null }],
  },
  { key: null, value: BIG_VALUE, headers: [{ key: "size", value: utf8("big") }] },
];

/** Counts kafkajs's calls into the codec for `type`, proving the batch really was compressed that way. */
function countCodec(type: CompressionTypes): { calls: () => number; restore: () => void } {
  if (type === CompressionTypes.None) return { calls: () => -1, restore: () => {} };
  const registry = CompressionCodecs as Record<
    number,
    () => Record<string, (x: unknown) => Promise<unknown>>
  >;
  const original = registry[type]!;
  let count = 0;
  registry[type] = () => {
    const codec = original();
    return {
      compress: codec.compress!,
      decompress: (buffer: unknown) => {
        count++;
        return codec.decompress!(buffer);
      },
    };
  };
  return { calls: () => count, restore: installCodecs };
}

const CODECS = [
  ["none", CompressionTypes.None],
  ["gzip", CompressionTypes.GZIP],
  ["snappy", CompressionTypes.Snappy],
  ["lz4", CompressionTypes.LZ4],
  ["zstd", CompressionTypes.ZSTD],
] as const;

for (const [name, type] of CODECS) {
  Deno.test(`librdkafka batches with compression.type=${name} arrive byte-exact, headers in wire order`, async () => {
    const kafka = createKafka(plainSettings(), log);
    await withTopic(kafka, async (topic) => {
      const input = HOP_STYLE.map((r) => ({
        key: b64(r.key),
        value: b64(r.value),
        headers: r.headers.map((h) => [h.key, b64(h.value)]),
      }));
      await runPython(
        "peer_produce.py",
        [serviceEnv("KAFKA_BROKERS"), topic, name],
        utf8(JSON.stringify(input)),
      );
      const counter = countCodec(type);
      try {
        const { messages } = await consumeAll(kafka, topic, HOP_STYLE.length);
        assert.equal(messages.length, HOP_STYLE.length);
        messages.forEach((message, i) => {
          const expected = HOP_STYLE[i]!;
          assert.equal(message.offset, String(i));
          assert.deepEqual(view(message.key), expected.key);
          assert.deepEqual(view(message.value), expected.value);
          assert.deepEqual(wireHeaders(message), expected.headers);
          assert.equal(messageTimestampType(message), "CreateTime");
        });
        if (type !== CompressionTypes.None) assert.ok(counter.calls() > 0, `no ${name} batch was decoded`);
      } finally {
        counter.restore();
      }
    });
  });

  Deno.test(`kafkajs batches with ${name} compression read back identically with librdkafka`, async () => {
    const kafka = createKafka(plainSettings(), log);
    await withTopic(kafka, async (topic) => {
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send({
          topic,
          compression: type,
          messages: [
            // kafkajs takes headers as an object: duplicates only grouped, never interleaved, and no null values
            // (its size computation throws on them).
            {
              key: Buffer.from([0, 0xff]),
              value: Buffer.from(BIG_VALUE),
              headers: { a: ["1", Buffer.from([0xff, 0])], e: "", b: "x" },
            },
            { key: null, value: Buffer.from("small"), headers: {} },
          ],
        });
      } finally {
        await producer.disconnect();
      }
      const out = await runPython("peer_consume.py", [serviceEnv("KAFKA_BROKERS"), topic, "2"]);
      const records = JSON.parse(out) as Array<
        { key: string | null; value: string | null; headers: string[][] }
      >;
      assert.deepEqual(unb64(records[0]!.key), Uint8Array.of(0, 0xff));
      assert.deepEqual(unb64(records[0]!.value), BIG_VALUE);
      assert.deepEqual(records[0]!.headers, [["a", b64(utf8("1"))], ["a", "/wA="], ["e", ""], [
        "b",
        b64(utf8("x")),
      ]]);
      assert.deepEqual(records[1], { ...records[1], key: null, value: b64(utf8("small")), headers: [] });
    });
  });
}

Deno.test("LogAppendTime topics report their timestamp type", async () => {
  const kafka = createKafka(plainSettings(), log);
  await withTopic(kafka, async (topic) => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: "x", timestamp: "1000" }] });
    await producer.disconnect();
    const { messages } = await consumeAll(kafka, topic, 1);
    assert.equal(messageTimestampType(messages[0]!), "LogAppendTime");
    assert.ok(Number(messages[0]!.timestamp) > 1_600_000_000_000, "the broker's append time replaces 1000");
  }, [{ name: "message.timestamp.type", value: "LogAppendTime" }]);
});

Deno.test("admin and consumer-group calls work against the Kafka 4.x broker", async () => {
  const kafka = createKafka(plainSettings(), log);
  await withTopic(kafka, async (topic) => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: [{ value: "1" }, { value: "2" }, { value: "3" }] });
      await producer.disconnect();
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(metadata.topics[0]?.partitions.length, 1);
      const offsets = await admin.fetchTopicOffsets(topic);
      assert.deepEqual(offsets.map(({ partition, high, low }) => ({ partition, high, low })), [
        { partition: 0, high: "3", low: "0" },
      ]);
      assert.ok((await admin.listTopics()).includes(topic));
      const { groupId } = await consumeAll(kafka, topic, 3);
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      assert.deepEqual(committed, [{ topic, partitions: [{ partition: 0, offset: "3", metadata: null }] }]);
    } finally {
      await admin.disconnect();
    }
  });
});

Deno.test("SASL/SCRAM-SHA-512 round trip through the SASL listener", async () => {
  const kafka = createKafka(saslSettings(), log);
  await withTopic(kafka, async (topic) => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      compression: CompressionTypes.LZ4,
      messages: [{ key: "k", value: "over sasl", headers: { h: ["1", "2"] } }],
    });
    await producer.disconnect();
    const { messages } = await consumeAll(kafka, topic, 1);
    assert.deepEqual(view(messages[0]!.value), utf8("over sasl"));
    assert.deepEqual(wireHeaders(messages[0]!), [{ key: "h", value: utf8("1") }, {
      key: "h",
      value: utf8("2"),
    }]);
  });
});

Deno.test("a wrong password fails with KAFKA_AUTH_FAILED and never shows the password", async () => {
  const wrong = `wrong-${crypto.randomUUID()}`;
  // kafkajs's most verbose level logs every SASL step: the strictest test that nothing leaks into the log.
  Deno.env.set("KAFKAJS_LOG_LEVEL", "debug");
  const before = logLines.length;
  try {
    const kafka = createKafka({ ...saslSettings(wrong), retries: 0 }, log);
    const admin = kafka.admin();
    await assert.rejects(admin.connect(), (error: Error & { code?: string }) => {
      assert.equal(error.code, "KAFKA_AUTH_FAILED", error.message);
      assert.match(error.message, /KAFKA_USERNAME\/KAFKA_PASSWORD/);
      assert.match(error.message, new RegExp(serviceEnv("KAFKA_USERNAME")));
      assert.ok(!error.message.includes(wrong));
      return true;
    });
    await admin.disconnect();
  } finally {
    Deno.env.delete("KAFKAJS_LOG_LEVEL");
  }
  const lines = logLines.slice(before);
  assert.ok(
    lines.some((line) => /"level":"debug".*"msg":"kafkajs: /.test(line)),
    "kafkajs logs reach our logger",
  );
  assert.ok(lines.some((line) => /SASL/.test(line)), "the SASL exchange was logged");
  assert.ok(!lines.some((line) => line.includes(wrong)), "the password reached the log");
});

Deno.test("an unreachable broker fails with KAFKA_UNREACHABLE naming the address", async () => {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  const kafka = createKafka({ ...plainSettings(), brokers: ["127.0.0.1:1"], retries: 0 }, log);
  const producer = kafka.producer();
  await assert.rejects(producer.connect(), (error: Error & { code?: string }) => {
    assert.equal(error.code, "KAFKA_UNREACHABLE", error.message);
    assert.match(error.message, /127\.0\.0\.1:1\b/);
    assert.match(error.message, /KAFKA_BROKERS/);
    return true;
  });
  await producer.disconnect();
});

Deno.test("PLAINTEXT against the SASL listener: the first request fails, translated to KAFKA_CONNECTION_CLOSED", async () => {
  const settings: KafkaSettings = {
    ...plainSettings(),
    brokers: [serviceEnv("KAFKA_SASL_BROKERS")],
    retries: 0,
  };
  const admin = createKafka(settings, log).admin();
  // ApiVersions is allowed before SASL, so connect() succeeds; the broker drops the connection at the first
  // real request. Callers translate such later failures with translateKafkaError.
  await admin.connect();
  try {
    await assert.rejects(
      admin.listTopics().catch((error) => Promise.reject(translateKafkaError(error, settings))),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "KAFKA_CONNECTION_CLOSED", error.message);
        assert.match(error.message, /--security-protocol/);
        return true;
      },
    );
  } finally {
    await admin.disconnect();
  }
});

Deno.test("TLS: an unknown CA is KAFKA_TLS_FAILED; with --ca-file the handshake passes", async () => {
  // A real TLS endpoint with a fresh self-signed certificate that closes after the handshake: enough to show that
  // certificate failures are recognised and that caFile is what the client trusts.
  const dir = await Deno.makeTempDir({ prefix: "kafka-tls-test-" });
  const made = await new Deno.Command("openssl", {
    args: ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
      .concat([
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ]),
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(made.success, `openssl req failed: ${new TextDecoder().decode(made.stderr)}`);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  });
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.handshake().then(() => conn.read(new Uint8Array(64))).catch(() => {});
      conn.close();
    }
  })();
  try {
    const broker = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    const attempt = async (caFile?: string) => {
      const settings: KafkaSettings = {
        ...plainSettings(),
        brokers: [broker],
        securityProtocol: "SSL",
        retries: 0,
        ...(caFile === undefined ? {} : { caFile }),
      };
      const admin = createKafka(settings, log).admin();
      try {
        await admin.connect();
        return "connected";
      } catch (error) {
        return (error as Error & { code?: string }).code + ": " + (error as Error).message;
      } finally {
        await admin.disconnect();
      }
    };
    const untrusted = await attempt();
    assert.match(untrusted, /^KAFKA_TLS_FAILED: .*self-signed.*--ca-file/);
    // Trusted: TLS succeeds, so what fails is the (absent) Kafka protocol behind it.
    assert.match(await attempt(`${dir}/cert.pem`), /^KAFKA_CONNECTION_CLOSED: /);
  } finally {
    listener.close();
    await serving;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("settings are validated before any connection", () => {
  const bad: Array<[Partial<KafkaSettings>, RegExp]> = [
    [{ brokers: [] }, /KAFKA_BROKERS/],
    [{ brokers: ["no-port"] }, /host:port/],
    [{ securityProtocol: "SASL_SSL" }, /KAFKA_USERNAME/],
    [{ sasl: { mechanism: "PLAIN", username: "u", password: "p4ssw0rd-secret" } }, /SASL_SSL/],
  ];
  for (const [patch, pattern] of bad) {
    assert.throws(
      () => createKafka({ ...plainSettings(), ...patch }, log),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "KAFKA_CONFIG_INVALID");
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes("p4ssw0rd-secret"));
        return true;
      },
    );
  }
  assert.throws(
    () => createKafka({ ...plainSettings(), securityProtocol: "SSL", caFile: "/nonexistent/ca.pem" }, log),
    { code: "KAFKA_CA_FILE_UNREADABLE" },
  );
});

Deno.test("translateKafkaError scrubs the password from any kafkajs text", () => {
  const settings = saslSettings("s3cret-value");
  const error = Object.assign(new Error("request failed near s3cret-value"), { name: "KafkaJSError" });
  const coded = translateKafkaError(error, settings);
  assert.equal(coded.code, "KAFKA_CONNECT_FAILED");
  assert.ok(!coded.message.includes("s3cret-value"));
});

Deno.test("timestamp types of legacy message formats", () => {
  assert.equal(messageTimestampType({ magicByte: 0, attributes: 0 }), null);
  assert.equal(messageTimestampType({ magicByte: 1, attributes: 0x08 }), "LogAppendTime");
  assert.equal(messageTimestampType({ magicByte: 1, attributes: 0x01 }), "CreateTime");
  assert.equal(messageTimestampType({ magicByte: 2, batchContext: { timestampType: 1 } }), "LogAppendTime");
});

Deno.test("kafkajs's failed responses it retries are info, not errors; everything else keeps its level", () => {
  const response = (error: string) => ({
    timestamp: "",
    message: "Response InitProducerId(key: 22, version: 1)",
    error,
    correlationId: 2,
  });
  // Seen on every cold broker (make run): kafkajs logs these, retries, and succeeds.
  for (
    const error of [
      "The coordinator is loading and hence can't process requests for this group",
      "The group coordinator is not available",
    ]
  ) {
    assert.equal(kafkajsEntryLevel("Connection", logLevel.ERROR, response(error)), "info", error);
  }
  const denied = response("Not authorized to access topics: [Topic authorization failed]");
  assert.equal(
    kafkajsEntryLevel("Connection", logLevel.ERROR, denied),
    "error",
    "not retried: still an error",
  );
  const retriable = response("The group coordinator is not available");
  assert.equal(
    kafkajsEntryLevel("Consumer", logLevel.ERROR, retriable),
    "error",
    "only the connection's response log",
  );
  assert.equal(kafkajsEntryLevel("Connection", logLevel.WARN, retriable), "warn");
  assert.equal(kafkajsEntryLevel("Connection", logLevel.NOTHING, retriable), null);
});
