// The benchmark's own corner of the shared services: topics, consumer groups, a bucket and an index schema, all
// named after one run id so that concurrent test runs are never touched, and all removed at the end.
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import type { Kafka } from "kafkajs";
import { createKafka } from "../../lib/kafka/client.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createS3Store } from "../../lib/store/s3.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { dropSchema, schemaSql } from "../../tests/support/archive_helpers.ts";
import { serviceEnv, uniqueName } from "../../tests/support/helpers.ts";
import { note } from "./report.ts";

export interface Bench {
  /** Prefix of every topic and group of this run. */
  id: string;
  kafka: Kafka;
  bucket: string;
  /** Prefix of the run's index schemas. */
  schema: string;
  /** The schemas used, dropped at the end. */
  schemas: string[];
  store: BlobStore;
  /** The run's groups, deleted at the end. */
  groups: string[];
}

export async function openBench(): Promise<Bench> {
  const id = uniqueName("hkbench");
  const kafka = createKafka(
    { brokers: [serviceEnv("KAFKA_BROKERS")], clientId: "hkbench", securityProtocol: "PLAINTEXT" },
    silentLogger,
  );
  const store = await createS3Store({ bucket: id, endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
  return { id, kafka, bucket: id, schema: id.replaceAll("-", "_"), schemas: [], store, groups: [] };
}

/** The archived objects of `topic`, as the index in `schema` lists them. */
export async function archivedObjects(
  schema: string,
  topic: string,
): Promise<{ key: string; size: number }[]> {
  const sql = schemaSql(schema);
  try {
    return await sql<{ key: string; size: number }[]>`
      SELECT key, size FROM messages WHERE topic = ${topic} ORDER BY partition, "offset"`;
  } finally {
    await sql.end();
  }
}

async function emptyBucket(bucket: string): Promise<void> {
  const s3 = new S3Client({
    endpoint: serviceEnv("S3_ENDPOINT"),
    forcePathStyle: true,
    region: serviceEnv("AWS_REGION"),
  });
  try {
    for (;;) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) break;
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
}

/** Removes everything the run created; failures are reported, not thrown (the figures are already out). */
export async function closeBench(b: Bench): Promise<void> {
  b.store.close();
  const steps: [string, () => Promise<void>][] = [
    ["topics", async () => {
      const admin = b.kafka.admin();
      await admin.connect();
      try {
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(b.id));
        if (topics.length > 0) await admin.deleteTopics({ topics });
        await admin.deleteGroups(b.groups).catch(
          (e: { groups?: { groupId: string; error?: { type?: string } }[] }) => {
            // A group that never committed an offset is gone once its member left: nothing to delete.
            const left = (e.groups ?? []).filter((g) => g.error?.type !== "GROUP_ID_NOT_FOUND");
            if (left.length > 0 || e.groups === undefined) throw e;
          },
        );
      } finally {
        await admin.disconnect();
      }
    }],
    ["schemas", async () => {
      for (const schema of b.schemas) await dropSchema(schema);
    }],
    ["bucket", () => emptyBucket(b.bucket)],
  ];
  for (const [what, step] of steps) {
    await step().catch((e) => note(`cleanup of the ${what} of ${b.id} failed: ${e}`));
  }
}
