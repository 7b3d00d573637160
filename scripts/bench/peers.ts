// BENCH_PARTS=peers: osodevops/kafka-backup, the tool a Kafka operator would pick for backup and restore, side by
// side with `archive` and `restore` on the same records of the same services. Its engine is the published
// kafka-backup-core crate (its CLI is not on crates.io), pinned and driven as its CLI drives it by
// scripts/bench/peers (Cargo.toml, src/main.rs), built with cargo into the cache outside the repository.
// Figures per size: kafka_backup_{backup,restore}_<size>_{records_per_s,MiB_per_s,cpu_ms_per_record,peak_rss_MiB},
// ours the same way (peer_{archive,restore}_<size>_*), and archive_<size>_vs_kafka_backup,
// restore_<size>_vs_kafka_backup. kafka-backup is timed from spawn to exit (a Rust binary starts in milliseconds),
// ours from the start of the work as everywhere in the bench, with `*_wall_vs_kafka_backup` spawn to exit for both.
// Then fidelity: records with repeated header keys, null header values, a null key and explicit timestamps,
// produced by confluent-kafka, through both tools and read back by confluent-kafka; the differences are printed.
import { createHash } from "node:crypto";
import { runPython, serviceEnv } from "../../tests/support/helpers.ts";
import type { ChildRun } from "./child.ts";
import { residentPeak } from "./proc.ts";
import { figure, MiB, note, type Rate, rateFigures, recordsPerSecond } from "./report.ts";
import type { Bench } from "./services.ts";
import { createTopics, produce, type Size } from "./workload.ts";

const CRATE_DIR = new URL("./peers/", import.meta.url).pathname;
const cacheDir = () => Deno.env.get("HK_CACHE_DIR") ?? `${Deno.env.get("HOME")}/.cache/housekeeping`;

/** The driver, built once per version of its sources and lock file (the hash is in the file name). */
async function kafkaBackupBinary(): Promise<string> {
  const hash = createHash("sha256");
  for (const name of ["Cargo.toml", "Cargo.lock", "src/main.rs"]) {
    hash.update(Deno.readFileSync(CRATE_DIR + name));
  }
  const path = `${cacheDir()}/bin/hk-bench-kafka-backup-${hash.digest("hex").slice(0, 12)}`;
  if (await Deno.stat(path).then(() => true, () => false)) return path;
  const target = `${cacheDir()}/kafka-backup-target`;
  note(`building kafka-backup-core with cargo (minutes the first time) into ${target}`);
  const out = await new Deno.Command("cargo", {
    args: ["build", "--release", "--locked"],
    cwd: CRATE_DIR,
    env: { CARGO_TARGET_DIR: target },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("cargo build of scripts/bench/peers failed (is Rust installed?)");
  await Deno.mkdir(`${cacheDir()}/bin`, { recursive: true });
  await Deno.copyFile(`${target}/release/hk-bench-kafka-backup`, path);
  await Deno.chmod(path, 0o755);
  return path;
}

interface PeerRun {
  seconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** One kafka-backup run of `yaml` (`mode` says backup or restore), under GNU time for its CPU and peak RSS. */
async function runKafkaBackup(binary: string, yaml: string): Promise<PeerRun> {
  const dir = await Deno.makeTempDir({ prefix: "hkbench-kafka-backup-" });
  try {
    await Deno.writeTextFile(`${dir}/config.yaml`, yaml);
    const started = performance.now();
    const child = new Deno.Command("/usr/bin/time", {
      args: ["-f", "%U %S %M", "-o", `${dir}/time`, binary, `${dir}/config.yaml`],
      cwd: dir, // anything it writes beside it (a local offsets database) goes away with the directory
      env: { RUST_LOG: "warn" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let peak = 0;
    const sampler = setInterval(() => peak = Math.max(peak, residentPeak(child.pid)), 50);
    const out = await child.output().finally(() => clearInterval(sampler));
    const seconds = (performance.now() - started) / 1000;
    if (!out.success) {
      throw new Error(`kafka-backup failed: ${new TextDecoder().decode(out.stderr).slice(-3000)}`);
    }
    const [user, system, maxKiB] = (await Deno.readTextFile(`${dir}/time`)).trim().split(/\s+/).map(Number);
    return { seconds, cpuSeconds: user! + system!, peakRssBytes: Math.max(peak, maxKiB! * 1024) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function storageYaml(bucket: string): string {
  return [
    "storage:",
    "  backend: s3",
    `  bucket: ${bucket}`,
    `  region: ${serviceEnv("AWS_REGION")}`,
    `  endpoint: ${serviceEnv("S3_ENDPOINT")}`,
    "  path_style: true",
    "  allow_http: true",
    "  prefix: kafka-backup",
  ].join("\n");
}

/** A snapshot backup with kafka-backup's defaults (zstd segments, offset headers): catch up and exit. */
function backupYaml(bucket: string, backupId: string, topic: string): string {
  return `mode: backup
backup_id: ${backupId}
source:
  bootstrap_servers: ["${serviceEnv("KAFKA_BROKERS")}"]
  topics:
    include: ["${topic}"]
${storageYaml(bucket)}
backup:
  stop_at_current_offsets: true
`;
}

function restoreYaml(bucket: string, backupId: string, topic: string, target: string): string {
  return `mode: restore
backup_id: ${backupId}
target:
  bootstrap_servers: ["${serviceEnv("KAFKA_BROKERS")}"]
  topics:
    include: ["${topic}"]
${storageYaml(bucket)}
restore:
  topic_mapping:
    "${topic}": "${target}"
`;
}

async function endOffsets(b: Bench, topic: string): Promise<number> {
  const admin = b.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface PeerOptions {
  scale: number;
  rounds: number;
  sizes: readonly Size[];
  runArchive: (topic: string, schema: string, count: number) => Promise<ChildRun>;
  runRestore: (schema: string, source: string, target: string, count: number) => Promise<ChildRun>;
}

const rateOf = (count: number, size: Size, seconds: number, cpuSeconds: number): Rate => ({
  records: count,
  valueBytes: count * size.bytes,
  seconds,
  cpuSeconds,
});

interface Side {
  archive?: Rate;
  archiveWall?: number;
  archivePeak: number;
  restore?: Rate;
  restoreWall?: number;
  restorePeak: number;
}

const better = (best: Rate | undefined, next: Rate) =>
  best === undefined || recordsPerSecond(next) > recordsPerSecond(best) ? next : best;

/** Ours and kafka-backup on the same `count` records of `size`, `rounds` times in turn; the best of each. */
async function peerSize(b: Bench, binary: string, size: Size, o: PeerOptions): Promise<void> {
  const count = Math.max(1, Math.round(size.count * o.scale));
  const s = size.label;
  const source = `${b.id}-src-peer-${s}`;
  await createTopics(b.kafka, [source]);
  await produce(b.kafka, source, size, count);
  const ours: Side = { archivePeak: 0, restorePeak: 0 };
  const theirs: Side = { archivePeak: 0, restorePeak: 0 };
  for (let round = 1; round <= o.rounds; round++) {
    note(`peers ${s} round ${round} of ${o.rounds}`);
    const schema = `${b.schema}_peer_${s.toLowerCase()}_${round}`;
    b.schemas.push(schema);
    const archived = await o.runArchive(source, schema, count);
    ours.archive = better(ours.archive, rateOf(count, size, archived.workSeconds, archived.workCpuSeconds));
    ours.archiveWall = Math.min(ours.archiveWall ?? Infinity, archived.wallSeconds);
    ours.archivePeak = Math.max(ours.archivePeak, archived.peakRssBytes);
    const oursTarget = `${b.id}-peer-ours-${s}-${round}`;
    await createTopics(b.kafka, [oursTarget]);
    const restored = await o.runRestore(schema, source, oursTarget, count);
    ours.restore = better(ours.restore, rateOf(count, size, restored.workSeconds, restored.workCpuSeconds));
    ours.restoreWall = Math.min(ours.restoreWall ?? Infinity, restored.wallSeconds);
    ours.restorePeak = Math.max(ours.restorePeak, restored.peakRssBytes);

    const backupId = `${b.id}-kb-${s}-${round}`;
    const backup = await runKafkaBackup(binary, backupYaml(b.bucket, backupId, source));
    theirs.archive = better(theirs.archive, rateOf(count, size, backup.seconds, backup.cpuSeconds));
    theirs.archiveWall = Math.min(theirs.archiveWall ?? Infinity, backup.seconds);
    theirs.archivePeak = Math.max(theirs.archivePeak, backup.peakRssBytes);
    const theirTarget = `${b.id}-peer-kb-${s}-${round}`;
    await createTopics(b.kafka, [theirTarget]);
    const restore = await runKafkaBackup(binary, restoreYaml(b.bucket, backupId, source, theirTarget));
    const landed = await endOffsets(b, theirTarget);
    if (landed !== count) {
      throw new Error(`kafka-backup restored ${landed} records of ${count} into ${theirTarget}`);
    }
    theirs.restore = better(theirs.restore, rateOf(count, size, restore.seconds, restore.cpuSeconds));
    theirs.restoreWall = Math.min(theirs.restoreWall ?? Infinity, restore.seconds);
    theirs.restorePeak = Math.max(theirs.restorePeak, restore.peakRssBytes);
  }
  const side = (name: string, what: Rate, peak: number) => {
    rateFigures(name, what);
    figure(`${name}_peak_rss_MiB`, peak / MiB, 0);
  };
  side(`peer_archive_${s}`, ours.archive!, ours.archivePeak);
  side(`peer_restore_${s}`, ours.restore!, ours.restorePeak);
  side(`kafka_backup_backup_${s}`, theirs.archive!, theirs.archivePeak);
  side(`kafka_backup_restore_${s}`, theirs.restore!, theirs.restorePeak);
  figure(`archive_${s}_vs_kafka_backup`, recordsPerSecond(ours.archive!) / recordsPerSecond(theirs.archive!));
  figure(`restore_${s}_vs_kafka_backup`, recordsPerSecond(ours.restore!) / recordsPerSecond(theirs.restore!));
  figure(`archive_${s}_wall_vs_kafka_backup`, theirs.archiveWall! / ours.archiveWall!);
  figure(`restore_${s}_wall_vs_kafka_backup`, theirs.restoreWall! / ours.restoreWall!);
}

type PeerRecord = {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestampType: string | null;
  timestamp: number;
};

const b64 = (text: string) => btoa(text);

/** Records that take what Kafka allows and hop-client never sends: the fidelity check's input. */
function fidelityRecords() {
  const base = 1_700_000_000_000;
  return [
    { key: null, value: b64("plain"), headers: [], timestamp: base },
    {
      key: b64("k"),
      value: b64("repeated"),
      headers: [["a", b64("1")], ["a", b64("2")]],
      timestamp: base + 1,
    },
    { key: null, value: b64("null header"), headers: [["n", null]], timestamp: base + 2 },
    { key: null, value: b64("empty header"), headers: [["e", ""]], timestamp: base + 3 },
    { key: b64("k2"), value: null, headers: [["t", b64("tombstone")]], timestamp: base + 4 },
    {
      key: null,
      value: b64("mixed"),
      headers: [["x", b64("1")], ["n", null], ["x", b64("2")], ["y", ""]],
      timestamp: base + 5,
    },
  ];
}

/** How `got` differs from `want`, record by record (the same order: one partition); one list per record. */
function differences(want: PeerRecord[], got: PeerRecord[]): string[][] {
  return want.map((w, i) => {
    const out: string[] = [];
    const g = got[i];
    if (g === undefined) return [`record ${i}: missing`];
    if (g.key !== w.key) out.push(`record ${i}: key ${g.key} instead of ${w.key}`);
    if (g.value !== w.value) out.push(`record ${i}: value ${g.value} instead of ${w.value}`);
    if (g.timestamp !== w.timestamp) {
      out.push(`record ${i}: timestamp ${g.timestamp} instead of ${w.timestamp}`);
    }
    if (JSON.stringify(g.headers) !== JSON.stringify(w.headers)) {
      out.push(`record ${i}: headers ${JSON.stringify(g.headers)} instead of ${JSON.stringify(w.headers)}`);
    }
    return out;
  });
}

async function peerRead(topic: string, count: number): Promise<PeerRecord[]> {
  return JSON.parse(await runPython("peer_consume.py", [serviceEnv("KAFKA_BROKERS"), topic, String(count)]));
}

/** The same odd records through both tools; prints how many came back exactly and notes every difference. */
async function fidelity(b: Bench, binary: string, o: PeerOptions): Promise<void> {
  const source = `${b.id}-src-peer-fidelity`;
  const records = fidelityRecords();
  const admin = b.kafka.admin();
  await admin.connect();
  try {
    // One partition: the records come back in the order they were sent, and compare one by one.
    await admin.createTopics({ topics: [{ topic: source, numPartitions: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const input = new TextEncoder().encode(JSON.stringify(records.map((r) => ({ ...r, partition: 0 }))));
  await runPython("peer_produce.py", [serviceEnv("KAFKA_BROKERS"), source], input);
  const want = await peerRead(source, records.length);

  const schema = `${b.schema}_peer_fidelity`;
  b.schemas.push(schema);
  await o.runArchive(source, schema, records.length);
  const oursTarget = `${b.id}-peer-ours-fidelity`;
  await createTopics(b.kafka, [oursTarget]);
  await o.runRestore(schema, source, oursTarget, records.length);
  const oursDiff = differences(want, await peerRead(oursTarget, records.length));

  const backupId = `${b.id}-kb-fidelity`;
  await runKafkaBackup(binary, backupYaml(b.bucket, backupId, source));
  const theirTarget = `${b.id}-peer-kb-fidelity`;
  await createTopics(b.kafka, [theirTarget]);
  await runKafkaBackup(binary, restoreYaml(b.bucket, backupId, source, theirTarget));
  const theirDiff = differences(want, await peerRead(theirTarget, records.length));

  const exact = (diff: string[][]) => diff.filter((d) => d.length === 0).length;
  figure("fidelity_records", records.length, 0);
  figure("fidelity_ours_exact_records", exact(oursDiff), 0);
  figure("fidelity_kafka_backup_exact_records", exact(theirDiff), 0);
  for (const d of oursDiff.flat()) note(`fidelity, ours: ${d}`);
  for (const d of theirDiff.flat()) note(`fidelity, kafka-backup: ${d}`);
}

export async function peerFigures(b: Bench, o: PeerOptions): Promise<void> {
  const binary = await kafkaBackupBinary();
  for (const size of o.sizes) await peerSize(b, binary, size, o);
  await fidelity(b, binary, o);
}
