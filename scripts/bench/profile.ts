// `deno run -A scripts/bench/profile.ts` (services' environment set): where `archive` and then `restore` spend their
// CPU on records of one size (BENCH_SIZES=1MiB by default, BENCH_SCALE as in the benchmark). The real
// `main.ts archive --until-end` child, then `main.ts restore` of what it archived into a fresh topic, runs under V8's
// sampling profiler (in-process, scripts/bench/profiler_preload.ts: Deno has no --cpu-prof, and profiling over
// --inspect makes Deno's fetch report every request body to the inspector), from the log line where the work
// starts until every record is archived (/metrics) or restored (the target's end offsets). Printed (stdout): self
// time per package and per function in ms per record, and the CPU per record of every process on the machine that
// takes part (the command, MinIO, the Kafka broker, PostgreSQL) from /proc, since they share the same cores.
// BENCH_PROFILE=archive (or restore) profiles one command only (restore still archives first, unprofiled).
import { parseArchiveArgs } from "../../lib/commands/archive.ts";
import { archiveEnv, textLines, vetoAllBut } from "../../tests/support/archive_helpers.ts";
import type { Kafka } from "kafkajs";
import { putCeiling } from "./ceilings.ts";
import { archivedCount, freePort } from "./commands.ts";
import { cpuSeconds, peerCpu } from "./proc.ts";
import { frameName, type Part, partNamer, type Profile, spawnUnderProfiler } from "./profile_parts.ts";
import { note } from "./report.ts";
import { closeBench, openBench } from "./services.ts";
import { createTopics, produce, SIZES } from "./workload.ts";

const label = Deno.env.get("BENCH_SIZES") ?? "1MiB";
const size = SIZES.find((s) => s.label === label);
if (size === undefined) throw new Error(`BENCH_SIZES must be one of ${SIZES.map((s) => s.label).join(", ")}`);
const count = Math.max(1, Math.round(size.count * Number(Deno.env.get("BENCH_SCALE") ?? "1")));
// Microseconds between samples: fine enough for ~10 s of work, coarse enough not to slow it down noticeably.
const SAMPLING_US = 250;
const TOP = 30;

/** Which package or part of the runtime a profile frame belongs to. */
function packageOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const npm = /node_modules\/(?:\.deno\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url) ??
    /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm) return npm[1]!.startsWith("@smithy") || npm[1]!.startsWith("@aws") ? "aws-sdk" : npm[1]!;
  if (url.startsWith("node:") || url.includes("ext:deno_node") || url.includes("ext/node")) {
    return "deno node:*";
  }
  if (url.startsWith("ext:")) return "deno runtime";
  const lib = /\/(lib\/[^/]+)/.exec(url);
  return lib ? lib[1]! : url;
}

// Where each sample's time goes, by the nearest frame on its stack that says (first match of the list, walking up
// from the sampled function): the table of docs/benchmarks.md, "Where each millisecond goes".
const PARTS: Part[] = [
  // sha256Fields's methods (bytes, byte, u64, flush, digest) as well as the chunk digests.
  [
    "SHA-256 (content digest)",
    (u, f) => u.endsWith("format/checksum.ts") && /^(digest|sha256|bytes|byte|u64|flush)/.test(f),
  ],
  ["CRC-32 (value, object)", (u, f) => u.endsWith("format/checksum.ts") && f === "crc32"],
  ["CRC-32C (Kafka batches)", (u) => u.endsWith("kafka/crc32c.ts")],
  ["BSON encode", (u) => u.endsWith("format/bson_writer.ts")],
  ["BSON decode", (u) => /\/bson\//.test(u) || u.endsWith("format/record.ts")],
  [
    "S3 request (signing, fetch, body check)",
    (u) => u.endsWith("store/s3_objects.ts") || /aws4fetch/.test(u),
  ],
  ["index (postgres.js)", (u) => /\/postgres\//.test(u) || u.includes("/lib/index/")],
  ["Kafka fetch/produce, decode, commit", (u) => /kafkajs/.test(u) || u.includes("/lib/kafka/")],
  ["ingest, lanes, restore's run", (u) => /\/lib\/(archive|restore)\//.test(u)],
  ["profiler", (u) => u.endsWith("profiler_preload.ts")],
];

function split(profile: Profile, records: number): void {
  const partOf = partNamer(profile, PARTS);
  const sums = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const name = partOf(id) || "other";
    sums.set(name, (sums.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  console.log("where the JS thread's time goes, ms/record:");
  for (const [name, us] of [...sums].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${(us / 1000 / records).toFixed(3).padStart(7)}  ${name}`);
  }
}

function summarize(profile: Profile, records: number): void {
  split(profile, records);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const callers = new Map<string, Map<string, number>>();
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const pkg = packageOf(url, functionName);
    const fn = `${frameName({ functionName, url, lineNumber })} [${pkg}]`;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    total += us;
    // The nearest caller that is neither native nor Deno's node compatibility layer: who asked for the work.
    let up = parentOf.get(id);
    while (up !== undefined && /^(\(native\)|deno )/.test(packageOf(byId.get(up)!.callFrame.url, "x"))) {
      up = parentOf.get(up);
    }
    const caller = up === undefined ? "(root)" : frameName(byId.get(up)!.callFrame);
    const of = callers.get(fn) ?? new Map<string, number>();
    of.set(caller, (of.get(caller) ?? 0) + us);
    callers.set(fn, of);
  }
  const perRecord = (us: number) => (us / 1000 / records).toFixed(3);
  console.log(`profile: ${(total / 1e6).toFixed(2)} s sampled, ${perRecord(total)} ms/record`);
  console.log("self time by package, ms/record:");
  for (const [pkg, us] of [...byPackage].sort((a, b) => b[1] - a[1])) {
    if (us / total >= 0.002) console.log(`  ${perRecord(us).padStart(7)}  ${pkg}`);
  }
  console.log(`top ${TOP} functions by self time, ms/record:`);
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`  ${perRecord(us).padStart(7)}  ${fn}`);
    const top = [...callers.get(fn)!].sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(`           from ${top.map(([c, t]) => `${c} ${perRecord(t)}`).join(", ")}`);
  }
}

interface Profiled {
  seconds: number;
  cpu: number | null;
  peers: Map<string, number>;
  profile: Profile;
}

/** `main.ts <args>` profiled from the first log line matching `startMarker` until `done()` holds. */
async function profiled(
  args: string[],
  env: Record<string, string>,
  startMarker: RegExp,
  done: () => Promise<boolean>,
): Promise<Profiled> {
  const out = Deno.makeTempFileSync({ prefix: "hk-cpu-", suffix: ".cpuprofile" });
  const child = spawnUnderProfiler(args, {
    ...env,
    HK_CPU_PROFILE: out,
    HK_CPU_PROFILE_US: String(SAMPLING_US),
  });
  let started: { at: number; cpu: number; peers: Map<string, number> } | undefined;
  let resolveStart!: () => void;
  const startSeen = new Promise<void>((r) => resolveStart = r);
  const tail: string[] = [];
  const readLog = (async () => {
    for await (const line of textLines(child.stderr)) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (started === undefined && startMarker.test(line)) {
        child.kill("SIGUSR2");
        started = { at: performance.now(), cpu: cpuSeconds(child.pid)!, peers: peerCpu() };
        resolveStart();
      }
    }
    if (started === undefined) throw new Error(`${args[0]} ended before it began:\n${tail.join("\n")}`);
  })();
  await Promise.race([startSeen, readLog]);
  while (!(await done().catch(() => false))) await new Promise((r) => setTimeout(r, 50));
  const seconds = (performance.now() - started!.at) / 1000;
  const cpuNow = cpuSeconds(child.pid);
  const peers = peerCpu();
  try {
    child.kill("SIGUSR2");
  } catch { /* exited: the profile was written on its way out */ }
  await child.status;
  await readLog;
  const profile = JSON.parse(await Deno.readTextFile(out)) as Profile;
  await Deno.remove(out);
  const peerDelta = new Map([...peers].map(([name, end]) => [name, end - (started!.peers.get(name) ?? 0)]));
  return { seconds, cpu: cpuNow === null ? null : cpuNow - started!.cpu, peers: peerDelta, profile };
}

function report(what: string, run: Profiled): void {
  const ms = (s: number) => (s * 1000 / count).toFixed(2);
  console.log(
    `== ${what}: ${count} records of ${label} in ${run.seconds.toFixed(2)} s (${
      (count / run.seconds).toFixed(0)
    }/s)`,
  );
  console.log(`cpu ms/record: ${what} ${run.cpu === null ? "(exited)" : ms(run.cpu)} (under the profiler)`);
  for (const [name, s] of run.peers) console.log(`cpu ms/record: ${name} ${ms(s)}`);
  summarize(run.profile, count);
}

async function endOffsets(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

const which = Deno.env.get("BENCH_PROFILE") ?? "archive,restore";
const bench = await openBench();
try {
  const topic = `${bench.id}-src-${label}`;
  const schema = `${bench.schema}_prof`;
  bench.schemas.push(schema);
  await createTopics(bench.kafka, [topic]);
  await produce(bench.kafka, topic, size, count);
  const group = `${topic}-archive`;
  bench.groups.push(group);
  const port = freePort();
  const archiveArgs = [
    "archive",
    "--until-end",
    "--group",
    group,
    "--bucket",
    bench.bucket,
    "--db-schema",
    schema,
  ];
  const archiveRun = await profiled(
    [...archiveArgs, "--http-port", String(port)],
    archiveEnv({ VETO_FILE: vetoAllBut(topic), LOG_LEVEL: "info" }),
    /Consumer has joined the group/,
    async () => (await archivedCount(port)) >= count,
  );
  if (which.includes("archive")) report("archive", archiveRun);
  if (which.includes("restore")) {
    const target = `${bench.id}-dst-${label}`;
    await createTopics(bench.kafka, [target]);
    const restoreRun = await profiled(
      ["restore", "--topic", topic, "--rename", `${topic}=${target}`, "--progress", "none"]
        .concat(["--bucket", bench.bucket, "--db-schema", schema]),
      archiveEnv({ VETO_FILE: vetoAllBut(`${bench.id}-src-`), LOG_LEVEL: "info" }),
      /"msg":"restoring"/,
      async () => (await endOffsets(bench.kafka, target)) >= count,
    );
    report("restore", restoreRun);
  }
  // The same split for the PUT ceiling (this process PUTting as many objects), to set the archive's against.
  if (Deno.env.get("BENCH_PROFILE_CEILING") === "1") await profileCeiling(bench);
} finally {
  if (Deno.env.get("BENCH_KEEP") === "1") note(`kept ${bench.id}`);
  else await closeBench(bench);
}

async function profileCeiling(bench: Awaited<ReturnType<typeof openBench>>): Promise<void> {
  const ms = (s: number) => (s * 1000 / count).toFixed(2);
  const archiveDefaults = parseArchiveArgs([], Deno.env.toObject());
  const before = { cpu: cpuSeconds("self")!, peers: peerCpu() };
  const put = await putCeiling(bench.store, `${bench.id}-put`, size!, count, {
    slots: archiveDefaults.putConcurrency,
    inflightBytes: archiveDefaults.maxInflightBytes,
  });
  const peersAfter = peerCpu();
  console.log(`put ceiling: ${(count / put.seconds).toFixed(0)}/s`);
  console.log(`put ceiling cpu ms/record: client ${ms(cpuSeconds("self")! - before.cpu)}`);
  for (const [name, end] of peersAfter) {
    console.log(`put ceiling cpu ms/record: ${name} ${ms(end - (before.peers.get(name) ?? 0))}`);
  }
}
