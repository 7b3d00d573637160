// `deno task bench` (or `make bench`, which starts the services first): throughput of `archive` and `restore`
// against ceilings measured side by side in the same run, on the same machine, with the same clients.
//
// Per message size (1 KiB, 64 KiB, 1 MiB), the input is produced once into a fresh 4-partition topic; then, in each
// of BENCH_ROUNDS rounds (default 2):
//   1. consume-only ceiling: kafkajs with the archiver's consumer settings, doing nothing with the records;
//   2. PUT ceiling: as many real archive objects of that size PUT through lib/store/s3.ts at the archiver's
//      concurrency (slots and bytes in flight);
//   3. archive: the real `main.ts archive --until-end` child into MinIO + PostgreSQL (a fresh index schema);
//   4. GET ceiling: the archived objects read through lib/store/s3.ts at restore's concurrency;
//   5. restore: the real `main.ts restore` child from the index and bucket into a fresh topic.
// Each phase's fastest round is reported: other load on the machine can only slow a phase down, and taking the
// best of interleaved rounds keeps a burst of it from deciding a ratio.
// Rates are records (and value MiB) per second of work: the commands are timed from the log line that shows the
// work began (archive: kafkajs joined the group, as for the consume-only ceiling; restore: "restoring") to the
// moment all records are visible (archive: its /metrics counter; restore: the target topic's end offsets). Process
// start-up and connecting are reported separately (`*_startup_s`), and so is the wall time from spawn to exit.
// `*_cpu_ms_per_record` is the CPU time of the measured process (the command, or this one for a ceiling) per
// record: the cost of the work itself, which other load disturbs far less than the rates.
// With BENCH_PARTS including `native` (the default), each round also runs the native ceilings of
// scripts/bench/native.ts: Kafka's own ConsumerPerformance and ProducerPerformance, and a minio-go client PUTting and
// GETting the same objects at the same concurrency; every ratio is printed against them too (`*_vs_native_*`), and
// so is what our own clients reach of them (`put_ceiling_*_vs_native_put`, `get_ceiling_*_vs_native_get`, ...).
// Last, `archive_idle_cpu_ms_per_s`: the CPU an archiver uses per second while caught up and waiting, and
// `archive_20k_headers_s`: the seconds to archive one batch holding a record with 20 000 headers
// (scripts/bench/headers.ts).
//
// Environment: the services' variables (`eval "$(scripts/services.sh env)"`); BENCH_SCALE multiplies the record
// counts (default 1); BENCH_SIZES=1KiB,64KiB selects sizes; BENCH_ROUNDS; BENCH_KEEP=1 keeps the topics, bucket
// and schemas; BENCH_PARTS=sizes,native,idle,serve,original,burst,s3latency,headers,text,peers picks parts
// (`serve`: scripts/bench/serve.ts, `original`: scripts/bench/original.ts, `text`: scripts/bench/text.ts,
// `peers`: kafka-backup side by side, scripts/bench/peers.ts, not in the default set: its first build keeps cargo
// busy for many minutes); BENCH_SCALE_ROWS=10000000 runs the scale figures instead (scripts/bench/scale.ts).
// stdout: `name: value` lines only; progress goes to stderr.
import { parseArchiveArgs } from "../lib/commands/archive.ts";
import { parseRestoreArgs } from "../lib/restore/args.ts";
import { sleep } from "../lib/runtime/retry.ts";
import { archiveEnv, spawnLogged, vetoAllBut, waitFor } from "../tests/support/archive_helpers.ts";
import { consumeCeiling, getCeiling, putCeiling } from "./bench/ceilings.ts";
import type { ChildRun } from "./bench/child.ts";
import { cpuSeconds, withPeerCpu } from "./bench/proc.ts";
import {
  figure,
  machineCpuMsPerRecord,
  MiB,
  note,
  type Rate,
  rateFigures,
  recordsPerSecond,
} from "./bench/report.ts";
import { archivedCount, freePort, runArchive, runRestore } from "./bench/commands.ts";
import { manyHeadersFigure } from "./bench/headers.ts";
import { benchS3Latency } from "./bench/latency.ts";
import { benchScaleRows } from "./bench/scale.ts";
import { textFigures } from "./bench/text.ts";
import { archivedObjects, type Bench, closeBench, openBench } from "./bench/services.ts";
import { originalFigures } from "./bench/original.ts";
import { peerFigures } from "./bench/peers.ts";
import { serveFigures } from "./bench/serve.ts";
import { createTopics, produce, type Size, SIZES } from "./bench/workload.ts";
import {
  nativeConsumeCeiling,
  nativeFigures,
  nativeGetCeiling,
  nativeProduceCeiling,
  nativePutCeiling,
  type NativeRates,
} from "./bench/native.ts";

const scale = Number(Deno.env.get("BENCH_SCALE") ?? "1");
if (!Number.isFinite(scale) || scale <= 0) throw new Error("BENCH_SCALE must be a positive number");
const rounds = Number(Deno.env.get("BENCH_ROUNDS") ?? "2");
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("BENCH_ROUNDS must be a positive integer");
const chosen = Deno.env.get("BENCH_SIZES")?.split(",").map((s) => s.trim());
const sizes = chosen ? SIZES.filter((s) => chosen.includes(s.label)) : SIZES;
if (sizes.length === 0) throw new Error(`BENCH_SIZES names none of ${SIZES.map((s) => s.label).join(", ")}`);
// BENCH_SCALE_ROWS=N: instead of the size phases, the commands against an index of N rows (scripts/bench/scale.ts).
const scaleRowsText = Deno.env.get("BENCH_SCALE_ROWS");
const scaleRows = scaleRowsText === undefined ? undefined : Number(scaleRowsText);
if (scaleRows !== undefined && !(Number.isInteger(scaleRows) && scaleRows > 0)) {
  throw new Error("BENCH_SCALE_ROWS must be a positive integer");
}
// BENCH_PARTS=serve runs only `serve`'s figures (scripts/bench/serve.ts), `original` only archive_vs_original
// (scripts/bench/original.ts: needs the original, see there); default: every part. `burst`: an archiver meeting
// 16 MiB records (burstPeak); `s3latency`: S3 behind 20 ms of latency (scripts/bench/latency.ts); `headers`: one
// record with 20 000 headers (scripts/bench/headers.ts); `text`: the archiver with text indexing on vs off
// (scripts/bench/text.ts); `native`: the native ceilings (scripts/bench/native.ts).
const ALL_PARTS = "sizes,native,idle,serve,original,burst,s3latency,headers,text";
const parts = (Deno.env.get("BENCH_PARTS") ?? ALL_PARTS).split(",").map((s) => s.trim());

// The commands' settings as the children will resolve them (they inherit this environment), so that the ceilings
// run at exactly the concurrency the commands use.
const archiveDefaults = parseArchiveArgs([], Deno.env.toObject());
const restoreDefaults = parseRestoreArgs(["--topic", "x"], Deno.env.toObject());
// Generous: a phase that takes this long is broken, not slow.
const PHASE_TIMEOUT_S = 600 * Math.max(1, scale);

const ratio = (what: Rate, ceiling: Rate) => recordsPerSecond(what) / recordsPerSecond(ceiling);
const workRate = (run: ChildRun, count: number, size: Size): Rate => ({
  records: count,
  valueBytes: count * size.bytes,
  seconds: run.workSeconds,
  cpuSeconds: run.workCpuSeconds,
});

/** A command's run and the rate it achieved. */
interface CommandRun {
  rate: Rate;
  run: ChildRun;
}

/** A ceiling's rate with the services' CPU meanwhile. */
async function measured(ceiling: () => Promise<Rate>): Promise<Rate> {
  const { result, peerCpuSeconds } = await withPeerCpu(ceiling);
  return { ...result, peerCpuSeconds };
}

/** A command's run of `count` records, its rate with the services' CPU meanwhile. */
async function measuredRun(command: () => Promise<ChildRun>, count: number, size: Size): Promise<CommandRun> {
  const { result: run, peerCpuSeconds } = await withPeerCpu(command);
  return { rate: { ...workRate(run, count, size), peerCpuSeconds }, run };
}

/** The faster of two measurements of one phase: other load on the machine only ever slows a phase down. */
function faster<T>(best: T | undefined, next: T, rate: (m: T) => Rate): T {
  return best === undefined || recordsPerSecond(rate(next)) > recordsPerSecond(rate(best)) ? next : best;
}

const limits = {
  archive: { slots: archiveDefaults.putConcurrency, inflightBytes: archiveDefaults.maxInflightBytes },
  restore: { slots: restoreDefaults.fetchConcurrency, inflightBytes: restoreDefaults.maxInflightBytes },
};

/** Every phase of one size, `rounds` times in turn; each phase's best round is reported. */
async function benchSize(b: Bench, size: Size): Promise<void> {
  const count = Math.max(1, Math.round(size.count * scale));
  const s = size.label;
  const source = `${b.id}-src-${s}`;
  figure(`records_${s}`, count, 0);
  await createTopics(b.kafka, [source]);
  await produce(b.kafka, source, size, count);

  let consume: Rate | undefined;
  let put: Rate | undefined;
  let archive: CommandRun | undefined;
  let get: Rate | undefined;
  let restore: CommandRun | undefined;
  let restoreFailed = false;
  let archivePeak = 0;
  // With BENCH_PARTS including `native`: the same phases by the native tools (scripts/bench/native.ts).
  const withNative = parts.includes("native");
  const native: NativeRates = {};
  const self = (r: Rate) => r;
  const ofRun = (r: CommandRun) => r.rate;
  for (let round = 1; round <= rounds; round++) {
    note(`${s} round ${round} of ${rounds}`);
    const group = `${source}-consume-${round}`;
    b.groups.push(group);
    const consumed = await consumeCeiling(
      b.kafka,
      source,
      group,
      count,
      size,
      archiveDefaults.partitionsConcurrency,
      PHASE_TIMEOUT_S,
    );
    consume = faster(consume, consumed, self);
    if (withNative) {
      b.groups.push(`${group}-native`);
      native.consume = faster(
        native.consume,
        await nativeConsumeCeiling(source, `${group}-native`, count, size),
        self,
      );
      const produceTopic = `${b.id}-native-produce-${s}-${round}`;
      await createTopics(b.kafka, [produceTopic]);
      native.produce = faster(native.produce, await nativeProduceCeiling(produceTopic, count, size), self);
      const nativeKeys = `${b.id}-native-put-${s}-${round}`;
      native.put = faster(
        native.put,
        await measured(() => nativePutCeiling(b.bucket, nativeKeys, size, count, limits.archive)),
        self,
      );
    }
    put = faster(
      put,
      await measured(() => putCeiling(b.store, `${b.id}-put-${s}-${round}`, size, count, limits.archive)),
      self,
    );

    // Each round archives into a fresh index schema: the same records again would be replays, another workload.
    const schema = `${b.schema}_${round}`;
    if (!b.schemas.includes(schema)) b.schemas.push(schema);
    const archived = await measuredRun(
      () => runArchive(b, source, schema, count, PHASE_TIMEOUT_S),
      count,
      size,
    );
    archivePeak = Math.max(archivePeak, archived.run.peakRssBytes);
    archive = faster(archive, archived, ofRun);

    const objects = await archivedObjects(schema, source);
    if (objects.length !== count) {
      throw new Error(`the index has ${objects.length} rows for ${source}, not ${count}`);
    }
    get = faster(get, await measured(() => getCeiling(b.store, objects, size, limits.restore)), self);
    if (withNative) {
      native.get = faster(
        native.get,
        await measured(() => nativeGetCeiling(b.bucket, objects, size, limits.restore)),
        self,
      );
    }

    if (restoreFailed) continue;
    const target = `${b.id}-dst-${s}-${round}`;
    await createTopics(b.kafka, [target]);
    try {
      const restored = await measuredRun(
        () => runRestore(b, schema, source, target, count, PHASE_TIMEOUT_S),
        count,
        size,
      );
      restore = faster(restore, restored, ofRun);
    } catch (e) {
      // restore is measured when it works; its failure must not hide the archive figures.
      note(`restore not measured: ${e instanceof Error ? e.message : e}`);
      restoreFailed = true;
    }
  }

  rateFigures(`consume_${s}`, consume!);
  rateFigures(`put_ceiling_${s}`, put!);
  rateFigures(`archive_${s}`, archive!.rate);
  figure(`archive_${s}_vs_put_ceiling`, ratio(archive!.rate, put!));
  figure(`archive_${s}_vs_consume_ceiling`, ratio(archive!.rate, consume!));
  // What two shared cores allow: the ratio if every process's CPU per record were all that counted.
  figure(
    `archive_${s}_cpu_bound_vs_put_ceiling`,
    machineCpuMsPerRecord(put!) / machineCpuMsPerRecord(archive!.rate),
  );
  figure(`archive_${s}_startup_s`, archive!.run.startupSeconds);
  figure(`archive_${s}_wall_s`, archive!.run.wallSeconds);
  figure(`archive_${s}_peak_rss_MiB`, archivePeak / MiB, 0);
  rateFigures(`get_ceiling_${s}`, get!);
  if (withNative) {
    nativeFigures(s, native, { consume, put, get, archive: archive!.rate, restore: restore?.rate });
  }
  if (restore === undefined) return;
  rateFigures(`restore_${s}`, restore.rate);
  figure(`restore_${s}_vs_get_ceiling`, ratio(restore.rate, get!));
  figure(
    `restore_${s}_cpu_bound_vs_get_ceiling`,
    machineCpuMsPerRecord(get!) / machineCpuMsPerRecord(restore.rate),
  );
  figure(`restore_${s}_startup_s`, restore.run.startupSeconds);
  figure(`restore_${s}_wall_s`, restore.run.wallSeconds);
  figure(`restore_${s}_peak_rss_MiB`, restore.run.peakRssBytes / MiB, 0);
}

const IDLE_SAMPLE_S = 10;

/**
 * CPU per second of an archiver that has nothing to do: caught up on a 10-record topic, long-polling and
 * heartbeating. What leaving the service running costs a laptop or a small VM (kafkajs alone used to spend
 * ~40 ms/s per connection on a 1 ms timer: lib/kafka/kafkajs_internals.ts).
 */
async function idleCpuPerSecond(b: Bench): Promise<number> {
  const topic = `${b.id}-src-idle`;
  const schema = `${b.schema}_idle`;
  const group = `${topic}-archive`;
  b.schemas.push(schema);
  b.groups.push(group);
  await createTopics(b.kafka, [topic]);
  await produce(b.kafka, topic, SIZES[0]!, 10);
  const port = freePort();
  const archiver = spawnLogged(
    ["archive", "--group", group, "--bucket", b.bucket, "--db-schema", schema, "--http-port", String(port)],
    archiveEnv({ VETO_FILE: vetoAllBut(topic), LOG_LEVEL: "warn" }),
  );
  try {
    await waitFor(
      "the idle archiver's 10 records",
      async () => (await archivedCount(port).catch(() => 0)) >= 10 ? true : undefined,
      PHASE_TIMEOUT_S,
    );
    await sleep(5_000); // past the commit of what it archived
    const [cpu, at] = [cpuSeconds(archiver.child.pid), performance.now()];
    await sleep(IDLE_SAMPLE_S * 1000);
    const used = cpuSeconds(archiver.child.pid);
    if (cpu === null || used === null || archiver.exited) {
      throw new Error(`the idle archiver exited:\n${archiver.lines.slice(-20).join("\n")}`);
    }
    return ((used - cpu) * 1000) / ((performance.now() - at) / 1000);
  } finally {
    archiver.kill("SIGTERM");
    await archiver.done;
  }
}

const BURST: Size = { label: "16MiB", bytes: 16 * MiB, count: 24 };

/**
 * An archiver that meets a burst of 16 MiB records (384 MiB, Hopskotch's largest alerts are far smaller): its peak
 * RSS must stay bounded by the fetch and in-flight settings (--max-inflight-mib), not grow with the burst.
 */
async function burstPeak(b: Bench): Promise<void> {
  const topic = `${b.id}-src-burst`;
  const schema = `${b.schema}_burst`;
  b.schemas.push(schema);
  await createTopics(b.kafka, [topic], 2 * BURST.bytes);
  await produce(b.kafka, topic, BURST, BURST.count);
  const run = await runArchive(b, topic, schema, BURST.count, PHASE_TIMEOUT_S);
  const rate = workRate(run, BURST.count, BURST);
  figure("archive_16MiB_burst_records_per_s", recordsPerSecond(rate), 1);
  figure("archive_16MiB_burst_MiB_per_s", rate.valueBytes / MiB / rate.seconds, 1);
  figure("archive_16MiB_burst_peak_rss_MiB", run.peakRssBytes / MiB, 0);
}

const bench = await openBench();
note(
  `run ${bench.id}: ${navigator.hardwareConcurrency} CPUs, BENCH_SCALE=${scale}, sizes ${
    sizes.map((s) => s.label)
  }`,
);
try {
  if (scaleRows !== undefined) await benchScaleRows(bench, scaleRows);
  else {
    if (parts.includes("sizes")) { for (const size of sizes) await benchSize(bench, size); }
    if (parts.includes("idle")) figure("archive_idle_cpu_ms_per_s", await idleCpuPerSecond(bench), 1);
    if (parts.includes("serve")) {
      await serveFigures(bench, { scale, rounds, native: parts.includes("native") });
    }
    if (parts.includes("original")) {
      await originalFigures(bench, {
        scale,
        timeoutSeconds: PHASE_TIMEOUT_S,
        runArchive: (topic, schema, count) => runArchive(bench, topic, schema, count, PHASE_TIMEOUT_S),
      });
    }
    if (parts.includes("peers")) {
      await peerFigures(bench, {
        scale,
        rounds,
        sizes,
        runArchive: (topic, schema, count) => runArchive(bench, topic, schema, count, PHASE_TIMEOUT_S),
        runRestore: (schema, source, target, count) =>
          runRestore(bench, schema, source, target, count, PHASE_TIMEOUT_S),
      });
    }
    if (parts.includes("burst")) await burstPeak(bench);
    if (parts.includes("text")) await textFigures(bench, { scale, timeoutSeconds: PHASE_TIMEOUT_S });
    if (parts.includes("s3latency")) await benchS3Latency(bench, rounds, limits.archive, PHASE_TIMEOUT_S);
    if (parts.includes("headers")) await manyHeadersFigure(bench, rounds, PHASE_TIMEOUT_S);
  }
} finally {
  if (Deno.env.get("BENCH_KEEP") === "1") {
    note(`kept topics ${bench.id}-*, bucket ${bench.bucket}, schemas ${bench.schemas.join(", ")}`);
  } else await closeBench(bench);
}
