// Plumbing for tests that run the real `archive` command as a child process against the real services.
import { Buffer } from "node:buffer";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { installKafkajsPatches } from "../../lib/kafka/kafkajs_internals.ts";
import { HEARTBEAT_TOPIC } from "../../lib/mock/messages.ts";
import { runPython, serviceEnv, uniqueName } from "./helpers.ts";

export const ROOT = new URL("../..", import.meta.url).pathname;
/** The repository's own data files (see testdata/README.md): sample payloads and a legacy object. */
export const SAMPLES = new URL("../../testdata/samples/", import.meta.url).pathname;
export const LEGACY_OBJECT =
  new URL("../../testdata/legacy/housekeeping-object.bson", import.meta.url).pathname;

/** `brokers`, `url` and `endpoint` parameters below default to the shared services; fault tests pass their own. */
export function adminKafka(brokers = serviceEnv("KAFKA_BROKERS")): Kafka {
  installKafkajsPatches(); // the test process lives long: its idle connections should not poll either
  return new Kafka({
    clientId: "test-admin",
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
  });
}

export async function createTopics(names: string[], partitions = 1): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    // Kafka 4 refuses timestamps more than an hour ahead by default; archives must hold far-future ones too.
    // Tests write records stamped 1970 too: without retention.ms=-1 Kafka may delete them before they are read
    // (see topicConfig in lib/mock/send.ts).
    const configEntries = [
      { name: "message.timestamp.after.max.ms", value: "9223372036854775807" },
      { name: "retention.ms", value: "-1" },
    ];
    await admin.createTopics({
      topics: names.map((topic) => ({ topic, numPartitions: partitions, configEntries })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(names: string[]): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: names }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

/** Every topic whose name starts with `prefix`, also those a test (or mock-hop) created along the way. */
export async function deleteTopicsUnder(prefix: string): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

/** The group and the ones named `${group}-...` (a second reader of the same archive). */
async function deleteGroups(group: string): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g === group || g.startsWith(`${group}-`));
    if (mine.length > 0) await admin.deleteGroups(mine).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

export interface PeerRecord {
  value: Uint8Array | null;
  key?: Uint8Array | null;
  headers?: [string, Uint8Array | null][];
  partition?: number;
  timestamp?: number;
}

const b64 = (b: Uint8Array | null | undefined) => (b == null ? null : Buffer.from(b).toString("base64"));

/** Produces with confluent-kafka (librdkafka); returns each record's partition and offset, in input order. */
export async function peerProduce(
  topic: string,
  records: PeerRecord[],
  compression = "none",
): Promise<{ partition: number; offset: number }[]> {
  const json = records.map((r) => ({
    value: b64(r.value),
    key: b64(r.key),
    headers: (r.headers ?? []).map(([k, v]) => [k, b64(v)]),
    ...(r.partition !== undefined ? { partition: r.partition } : {}),
    ...(r.timestamp !== undefined ? { timestamp: r.timestamp } : {}),
  }));
  const out = await runPython(
    "peer_produce.py",
    [serviceEnv("KAFKA_BROKERS"), topic, compression],
    new TextEncoder().encode(JSON.stringify(json)),
  );
  return out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Environment for a child `archive`: the PLAINTEXT listener, one schema, no inherited credentials. */
export function archiveEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.KAFKA_USERNAME;
  delete env.KAFKA_PASSWORD;
  return { ...env, KAFKA_SECURITY_PROTOCOL: "PLAINTEXT", LOG_LEVEL: "warn", ...extra };
}

export interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runMain(args: string[], env: Record<string, string>): Promise<ChildResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

export function spawnMain(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

export interface LoggedChild {
  child: Deno.ChildProcess;
  /** The child's stderr lines so far (the last 5000). */
  lines: string[];
  /** Resolves once the child exited and its stderr is drained; `exited` turns true then. */
  done: Promise<Deno.CommandStatus>;
  readonly exited: boolean;
  /** Sends `signal` unless the child has exited already. */
  kill(signal: Deno.Signal): void;
}

/** The lines of a child's output stream as they arrive, the last one also without its newline. */
export async function* textLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    yield* lines;
  }
  if (rest !== "") yield rest;
}

/**
 * spawnMain with stderr drained as it comes: a long-running child that logs a lot (retries during an outage)
 * would otherwise block on a full pipe.
 */
export function spawnLogged(args: string[], env: Record<string, string>): LoggedChild {
  const child = spawnMain(args, env);
  const lines: string[] = [];
  let exited = false;
  const drain = async () => {
    for await (const line of textLines(child.stderr)) {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, lines.length - 5000);
    }
  };
  const done = Promise.all([child.status, drain()]).then(([status]) => {
    exited = true;
    return status;
  });
  return {
    child,
    lines,
    done,
    get exited() {
      return exited;
    },
    kill(signal) {
      try {
        child.kill(signal);
      } catch { /* exited meanwhile */ }
    },
  };
}

/** A postgres.js client on the test's own schema. */
export function schemaSql(schema: string, url = serviceEnv("DATABASE_URL")) {
  return postgres(url, {
    max: 2,
    onnotice: () => {},
    types: { bigint: postgres.BigInt },
    connection: { search_path: schema },
  });
}

export async function dropSchema(schema: string): Promise<void> {
  const sql = postgres(serviceEnv("DATABASE_URL"), { max: 1, onnotice: () => {} });
  try {
    await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  } finally {
    await sql.end();
  }
}

export function testIds(prefix: string) {
  const id = uniqueName(prefix);
  return { id, group: `g-${id}`, schema: `s_${id.replace(/[^a-z0-9]/gi, "_").toLowerCase()}` };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  seconds = 60,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${seconds}s waiting for ${what}`);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");

/**
 * A veto list that vetoes every topic not starting with `prefix`: tests share one broker, and an archiver that
 * also consumed other tests' topics would be slow and see topics vanish under it. `patterns` veto more (regular
 * expressions matching whole topic names, e.g. mock-hop's heartbeat topics).
 */
export function vetoAllBut(
  prefix: string,
  patterns: string[] = [],
  path = Deno.makeTempFileSync({ prefix: "veto-", suffix: ".yaml" }),
): string {
  Deno.writeTextFileSync(path, JSON.stringify({ patterns: [`(?!${escapeRegExp(prefix)}).*`, ...patterns] }));
  return path;
}

/**
 * The veto list for mock-hop traffic under `prefix`: its heartbeats by name, as sys.heartbeat is for Hopskotch,
 * and every topic outside the prefix by pattern (other tests' topics come and go meanwhile).
 */
export async function writeMockHopVeto(path: string, prefix: string): Promise<void> {
  await Deno.writeTextFile(
    path,
    JSON.stringify({ topics: [`${prefix}${HEARTBEAT_TOPIC}`], patterns: [`(?!${escapeRegExp(prefix)}).*`] }),
  );
}

export function s3Client(endpoint = serviceEnv("S3_ENDPOINT")): S3Client {
  return new S3Client({ endpoint, forcePathStyle: true, region: serviceEnv("AWS_REGION") });
}

export async function createBucket(name: string, endpoint = serviceEnv("S3_ENDPOINT")): Promise<void> {
  const s3 = s3Client(endpoint);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    s3.destroy();
  }
}

/** Empties and removes a bucket; `client` (closed afterwards) may be one of another endpoint. */
export async function dropBucket(bucket: string, client = s3Client()): Promise<void> {
  try {
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
      );
      const objects = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (objects.length > 0) {
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

export interface ArchiveScenario {
  id: string;
  group: string;
  schema: string;
  /** The topics created for the test: `topic(name)` of each name given. */
  topics: string[];
  topic(name: string): string;
  /** A scratch directory for the test's own files; removed afterwards. */
  dir: string;
  /** Where the store is: `storeDir` (`${dir}/objects`), or with backend "s3" the bucket `bucket`. */
  storeUrl: string;
  storeDir: string;
  bucket: string;
  /** `--group`, `--store` and `--db-schema`: what every run on this archive passes. */
  flags: string[];
  /** A veto list that admits only this test's topics (`vetoAllBut(id)`). */
  veto: string;
  /** archiveEnv() with `veto` as VETO_FILE. */
  env: Record<string, string>;
}

/**
 * An archive of the test's own on the shared services: unique names, its topics, a scratch directory, and a bucket
 * with backend "s3". Afterwards, however `fn` ends, the topics under the test's prefix (also those created along
 * the way), its consumer groups, schema, bucket and directory are removed.
 */
export async function withArchiveScenario(
  prefix: string,
  options: { topics?: readonly string[]; partitions?: number; backend?: "fs" | "s3" },
  fn: (s: ArchiveScenario) => Promise<void>,
): Promise<void> {
  const { id, group, schema } = testIds(prefix);
  const topic = (name: string) => `${id}.${name}`;
  const topics = (options.topics ?? []).map(topic);
  const dir = await Deno.makeTempDir({ prefix: `hk-${prefix}-` });
  const storeDir = `${dir}/objects`;
  const bucket = id.toLowerCase().slice(0, 63).replace(/[^a-z0-9]+$/, "");
  const s3 = options.backend === "s3";
  const storeUrl = s3 ? `s3://${bucket}` : `file://${storeDir}`;
  const veto = vetoAllBut(id, [], `${dir}/scenario-veto.yaml`);
  try {
    if (topics.length > 0) await createTopics(topics, options.partitions);
    if (s3) await createBucket(bucket);
    await fn({
      id,
      group,
      schema,
      topics,
      topic,
      dir,
      storeUrl,
      storeDir,
      bucket,
      flags: ["--group", group, "--store", storeUrl, "--db-schema", schema],
      veto,
      env: archiveEnv({ VETO_FILE: veto }),
    });
  } finally {
    await deleteTopicsUnder(`${id}.`);
    await deleteGroups(group);
    await dropSchema(schema);
    if (s3) await dropBucket(bucket).catch(() => {}); // a test may have removed it
    await Deno.remove(dir, { recursive: true });
  }
}
