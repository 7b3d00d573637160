// Smoke tests: the real services started by scripts/services.sh answer the clients this project uses.
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import postgres from "postgres";
import { consumeUntil, runPython, serviceEnv, uniqueName } from "../support/helpers.ts";

function kafkaClient(sasl: boolean): Kafka {
  return new Kafka({
    clientId: "smoke",
    brokers: [serviceEnv(sasl ? "KAFKA_SASL_BROKERS" : "KAFKA_BROKERS")],
    logLevel: logLevel.NOTHING,
    ...(sasl
      ? {
        sasl: {
          mechanism: "scram-sha-512" as const,
          username: serviceEnv("KAFKA_USERNAME"),
          password: serviceEnv("KAFKA_PASSWORD"),
        },
      }
      : {}),
  });
}

async function roundTrip(kafka: Kafka, topic: string, values: string[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: values.map((value) => ({ value })) });
    await producer.disconnect();
    return await consumeAll(kafka, topic, values.length);
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

async function consumeAll(kafka: Kafka, topic: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: uniqueName("smoke-group") });
  await consumer.connect();
  const seen: string[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumeUntil(consumer, 30, () => `${seen.length}/${count} messages`, ({ message }) => {
      seen.push(message.value?.toString() ?? "<null>");
      return seen.length >= count;
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

Deno.test("kafkajs produces and consumes through the PLAINTEXT listener", async () => {
  const values = ["a", "b", "c"];
  assert.deepEqual(await roundTrip(kafkaClient(false), uniqueName("smoke-plain"), values), values);
});

Deno.test("kafkajs produces and consumes through the SASL_PLAINTEXT SCRAM-SHA-512 listener", async () => {
  const values = ["scram-1", "scram-2"];
  assert.deepEqual(await roundTrip(kafkaClient(true), uniqueName("smoke-sasl"), values), values);
});

Deno.test("kafkajs produces and consumes through the SASL_SSL SCRAM-SHA-256 listener, trusting the test CA", async () => {
  const kafka = new Kafka({
    clientId: "smoke",
    brokers: [serviceEnv("KAFKA_SSL_BROKERS")],
    ssl: { ca: [Deno.readTextFileSync(serviceEnv("KAFKA_CA_FILE"))] },
    sasl: {
      mechanism: "scram-sha-256",
      username: serviceEnv("KAFKA_USERNAME"),
      password: serviceEnv("KAFKA_PASSWORD"),
    },
    logLevel: logLevel.NOTHING,
  });
  const values = ["tls-1", "tls-2"];
  assert.deepEqual(await roundTrip(kafka, uniqueName("smoke-ssl"), values), values);
});

Deno.test("a confluent-kafka (librdkafka) peer produces a message that kafkajs reads", async () => {
  const kafka = kafkaClient(false);
  const topic = uniqueName("smoke-peer");
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const records = [{ value: btoa("from python"), key: null, headers: [] }];
    const out = await runPython(
      "peer_produce.py",
      [serviceEnv("KAFKA_BROKERS"), topic],
      new TextEncoder().encode(JSON.stringify(records)),
    );
    assert.equal(JSON.parse(out.trim()).offset, 0);
    assert.deepEqual(await consumeAll(kafka, topic, 1), ["from python"]);
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
});

Deno.test("the S3 SDK puts and gets an object in MinIO", async () => {
  const s3 = new S3Client({
    endpoint: serviceEnv("S3_ENDPOINT"),
    forcePathStyle: true,
    region: serviceEnv("AWS_REGION"),
  });
  const Bucket = uniqueName("smoke");
  const body = crypto.getRandomValues(new Uint8Array(4096));
  try {
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: "a/b.bin", Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: "a/b.bin" }));
    assert.deepEqual(await got.Body!.transformToByteArray(), body);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: "a/b.bin" }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
  } finally {
    s3.destroy();
  }
});

Deno.test("postgres.js queries the private PostgreSQL cluster", async () => {
  const sql = postgres(serviceEnv("DATABASE_URL"), { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`SELECT current_setting('server_version_num')::int AS version, 1 + 1 AS two`;
    assert.equal(row?.two, 2);
    assert.ok((row?.version as number) >= 130000);
  } finally {
    await sql.end();
  }
});
