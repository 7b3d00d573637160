// Plumbing for tests that run the real `archive` command as a child process against the real services.
import { Buffer } from "node:buffer";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { runPython, serviceEnv, uniqueName } from "./helpers.ts";

export const ROOT = new URL("..", import.meta.url).pathname;
export const SHARED = new URL("../../shared/", import.meta.url).pathname;

/** `brokers`, `url` and `endpoint` parameters below default to the shared services; fault tests pass their own. */
export function adminKafka(brokers = serviceEnv("KAFKA_BROKERS")): Kafka {
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
    const configEntries = [{ name: "message.timestamp.after.max.ms", value: "9223372036854775807" }];
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

/**
 * spawnMain with stderr drained as it comes: a long-running child that logs a lot (retries during an outage)
 * would otherwise block on a full pipe.
 */
export function spawnLogged(args: string[], env: Record<string, string>): LoggedChild {
  const child = spawnMain(args, env);
  const lines: string[] = [];
  let exited = false;
  const drain = async () => {
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
      if (lines.length > 5000) lines.splice(0, lines.length - 5000);
    }
    if (rest !== "") lines.push(rest);
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

/**
 * A veto list that vetoes every topic not starting with `prefix`: tests share one broker, and an archiver that
 * also consumed other tests' topics would be slow and see topics vanish under it. `patterns` veto more (regular
 * expressions matching whole topic names, e.g. mock-hop's heartbeat topics).
 */
export function vetoAllBut(prefix: string, patterns: string[] = []): string {
  const path = Deno.makeTempFileSync({ prefix: "veto-", suffix: ".yaml" });
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
  Deno.writeTextFileSync(path, JSON.stringify({ patterns: [`(?!${escaped}).*`, ...patterns] }));
  return path;
}

export async function createBucket(name: string, endpoint = serviceEnv("S3_ENDPOINT")): Promise<void> {
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: serviceEnv("AWS_REGION") });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    s3.destroy();
  }
}
