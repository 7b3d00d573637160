// Native ceilings: what the machine serves without our clients in the way. S3: scripts/bench/ceiling (minio-go,
// MinIO's own Go client), built here from the Go module proxy into the cache outside the repository as
// scripts/services.sh builds MinIO, and run on the same objects at the same concurrency as the store ceilings.
// Kafka: the broker's own ProducerPerformance and ConsumerPerformance (the kafka-tools jar scripts/services.sh
// installs with the broker). The store and kafkajs ceilings (ceilings.ts) say what our clients reach; these say
// what the services would give a client that cost nothing, so every ratio is printed against both.
import { createHash } from "node:crypto";
import { crc32 } from "../../lib/format/checksum.ts";
import { objectKey } from "../../lib/format/keys.ts";
import { encodeArchiveObject } from "../../lib/format/record.ts";
import { serviceEnv } from "../../tests/support/helpers.ts";
import type { Limits } from "./ceilings.ts";
import { cpuSeconds } from "./proc.ts";
import { figure, MiB, note, type Rate, rateFigures } from "./report.ts";
import { baseValue, sampleRecord, type Size } from "./workload.ts";

const SOURCE_DIR = new URL("./ceiling/", import.meta.url).pathname;
const SOURCES = ["go.mod", "go.sum", "main.go"];
const cacheDir = () => Deno.env.get("HK_CACHE_DIR") ?? `${Deno.env.get("HOME")}/.cache/housekeeping`;

let built: Promise<string> | undefined;

/** The ceiling tool, built once per version of its sources (the hash is in the file name). */
export function nativeTool(): Promise<string> {
  return built ??= (async () => {
    const hash = createHash("sha256");
    for (const name of SOURCES) hash.update(Deno.readFileSync(`${SOURCE_DIR}${name}`));
    const path = `${cacheDir()}/bin/hk-s3-ceiling-${hash.digest("hex").slice(0, 12)}`;
    if (await Deno.stat(path).then(() => true, () => false)) return path;
    note(`building the native S3 ceiling tool with go build into ${path}`);
    const out = await new Deno.Command("go", {
      args: ["build", "-trimpath", "-o", path, "."],
      cwd: SOURCE_DIR,
      env: { GOFLAGS: "-mod=readonly" },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("go build of scripts/bench/ceiling failed (is Go installed?)");
    return path;
  })();
}

/** Requests in flight for objects of `objectBytes`, exactly as ceilings.ts (and the commands) bound them. */
function concurrency(limits: Limits, objectBytes: number): number {
  return Math.max(1, Math.min(limits.slots, Math.floor(limits.inflightBytes / objectBytes)));
}

async function runTool(args: string[], keys: string[], size: Size): Promise<Rate> {
  const child = new Deno.Command(await nativeTool(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(keys.join("\n") + "\n"));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`hk-s3-ceiling ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  const result = JSON.parse(text) as { records: number; seconds: number; cpuSeconds: number };
  return { ...result, valueBytes: result.records * size.bytes };
}

// Distinct bodies cycled through, as ceilings.ts's PUT_POOL.
const PUT_POOL = 64;

/** Native PUT ceiling: `count` real archive objects of `size` under fresh keys, as putCeiling writes them. */
export async function nativePutCeiling(
  bucket: string,
  topic: string,
  size: Size,
  count: number,
  limits: Limits,
): Promise<Rate> {
  const dir = await Deno.makeTempDir({ prefix: "hkbench-bodies-" });
  try {
    const base = baseValue(size);
    const stamp = { archivedAt: BigInt(Date.now()), archiverVersion: "bench" };
    let objectBytes = 0;
    for (let i = 0; i < Math.min(PUT_POOL, count); i++) {
      const bytes = encodeArchiveObject(
        sampleRecord(topic, base, i),
        { uuid: crypto.randomUUID(), isClientUuid: true },
        stamp,
      );
      crc32(bytes); // the store ceiling computes it beforehand too; minio-go computes its own
      objectBytes = bytes.length;
      await Deno.writeFile(`${dir}/${String(i).padStart(3, "0")}`, bytes);
    }
    const keys = Array.from(
      { length: count },
      () => objectKey("daily", topic, stamp.archivedAt, crypto.randomUUID()),
    );
    const slots = concurrency(limits, objectBytes);
    return await runTool(
      ["-op", "put", "-bucket", bucket, "-concurrency", String(slots), "-bodies", dir],
      keys,
      size,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Native GET ceiling: `objects` read at the concurrency `limits` allow, as getCeiling reads them. */
export function nativeGetCeiling(
  bucket: string,
  objects: { key: string; size: number }[],
  size: Size,
  limits: Limits,
): Promise<Rate> {
  const slots = concurrency(limits, objects[0]!.size);
  return runTool(
    ["-op", "get", "-bucket", bucket, "-concurrency", String(slots)],
    objects.map((o) => o.key),
    size,
  );
}

// ---------------------------------------------------------------------------------------------------- Kafka

function kafkaLibs(): string {
  return `${cacheDir()}/kafka-${Deno.env.get("HK_KAFKA_VERSION") ?? "4.1.1"}/libs`;
}

/** Runs one of the kafka-tools classes; its stdout, and its CPU seconds (JVM start-up included). */
async function kafkaTool(main: string, args: string[]): Promise<{ stdout: string; cpuSeconds: number }> {
  const child = new Deno.Command("java", {
    args: ["-Xmx512m", "-XX:+UseG1GC", "-cp", `${kafkaLibs()}/*`, main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let cpu = 0;
  const sampler = setInterval(() => cpu = cpuSeconds(child.pid) ?? cpu, 100);
  const out = await child.output().finally(() => clearInterval(sampler));
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${main} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}\n${stdout}`);
  }
  return { stdout, cpuSeconds: cpu };
}

/**
 * Kafka's ConsumerPerformance reading `count` records of `topic` from the beginning in a fresh group. Its
 * fetch.nMsg.sec is timed from the group's assignment to the last record, like the consume ceiling and archive.
 */
export async function nativeConsumeCeiling(
  topic: string,
  group: string,
  count: number,
  size: Size,
): Promise<Rate> {
  const { stdout, cpuSeconds } = await kafkaTool("org.apache.kafka.tools.ConsumerPerformance", [
    "--bootstrap-server",
    serviceEnv("KAFKA_BROKERS"),
    "--topic",
    topic,
    "--group",
    group,
    "--messages",
    String(count),
    "--timeout",
    "60000",
  ]);
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
  // fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const row = stdout.trim().split("\n").at(-1)!.split(",").map((s) => s.trim());
  const records = Number(row[4]);
  const fetchMs = Number(row[7]);
  if (!(records >= count) || !(fetchMs > 0)) {
    throw new Error(`ConsumerPerformance: unexpected output ${stdout}`);
  }
  return { records, valueBytes: records * size.bytes, seconds: fetchMs / 1000, cpuSeconds };
}

/**
 * Kafka's ProducerPerformance: `count` records of `size` into `topic`, acks=all like restore, unthrottled. Its
 * figure is timed from the first send to the last acknowledgement (JVM start-up excluded).
 */
export async function nativeProduceCeiling(topic: string, count: number, size: Size): Promise<Rate> {
  const { stdout, cpuSeconds } = await kafkaTool("org.apache.kafka.tools.ProducerPerformance", [
    "--topic",
    topic,
    "--num-records",
    String(count),
    "--record-size",
    String(size.bytes),
    "--throughput",
    "-1",
    "--producer-props",
    `bootstrap.servers=${serviceEnv("KAFKA_BROKERS")}`,
    "acks=all",
    `max.request.size=${8 * MiB}`,
  ]);
  // "N records sent, R records/sec (M MB/sec), ..." is its last line.
  const match = /(\d+) records sent, ([\d.]+) records\/sec/.exec(stdout.trim().split("\n").at(-1) ?? "");
  if (match === null) throw new Error(`ProducerPerformance: unexpected output ${stdout}`);
  const records = Number(match[1]);
  return { records, valueBytes: records * size.bytes, seconds: records / Number(match[2]), cpuSeconds };
}

/** The best round of each native phase of one size. */
export interface NativeRates {
  consume?: Rate;
  produce?: Rate;
  put?: Rate;
  get?: Rate;
}

/** Ours: the store and kafkajs ceilings, and the commands. */
interface OurRates {
  consume: Rate | undefined;
  put: Rate | undefined;
  get: Rate | undefined;
  archive: Rate;
  restore: Rate | undefined;
}

const perSecond = (r: Rate) => r.records / r.seconds;

/**
 * The native ceilings of size `s` and every ratio against them: `<ours>_vs_native_<phase>`. The Kafka tools' CPU is
 * not printed (a JVM's start-up dwarfs the work at these counts).
 */
export function nativeFigures(s: string, native: NativeRates, ours: OurRates): void {
  const show = (name: string, r: Rate | undefined, full: boolean) => {
    if (r === undefined) return;
    if (full) rateFigures(name, r);
    else {
      figure(`${name}_records_per_s`, perSecond(r), 0);
      figure(`${name}_MiB_per_s`, r.valueBytes / MiB / r.seconds, 1);
    }
  };
  const vs = (name: string, what: Rate | undefined, ceiling: Rate | undefined) => {
    if (what !== undefined && ceiling !== undefined) figure(name, perSecond(what) / perSecond(ceiling));
  };
  show(`native_consume_${s}`, native.consume, false);
  show(`native_produce_${s}`, native.produce, false);
  show(`native_put_${s}`, native.put, true);
  show(`native_get_${s}`, native.get, true);
  vs(`consume_${s}_vs_native_consume`, ours.consume, native.consume);
  vs(`archive_${s}_vs_native_consume`, ours.archive, native.consume);
  vs(`put_ceiling_${s}_vs_native_put`, ours.put, native.put);
  vs(`archive_${s}_vs_native_put`, ours.archive, native.put);
  vs(`get_ceiling_${s}_vs_native_get`, ours.get, native.get);
  vs(`restore_${s}_vs_native_get`, ours.restore, native.get);
  vs(`restore_${s}_vs_native_produce`, ours.restore, native.produce);
}
