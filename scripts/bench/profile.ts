// `deno run -A scripts/bench/profile.ts` (services' environment set): where `archive` spends its CPU on records of
// one size (BENCH_SIZES=1MiB by default, BENCH_SCALE as in the benchmark). The real `main.ts archive --until-end`
// child runs under V8's sampling profiler, driven over the inspector's WebSocket (Deno has no --cpu-prof), from the
// log line where the work starts until /metrics shows every record archived. Printed (stdout): self time per
// package and per function in ms per record, and the CPU per record of every process on the machine that takes
// part (the archiver, MinIO, the Kafka broker, PostgreSQL) from /proc, since they share the same cores.
import { parseArchiveArgs } from "../../lib/commands/archive.ts";
import { archiveEnv, textLines, vetoAllBut } from "../../tests/support/archive_helpers.ts";
import { putCeiling } from "./ceilings.ts";
import { archivedCount, freePort } from "./commands.ts";
import { cpuSeconds, peerCpu } from "./proc.ts";
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

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function frameName(f: { functionName: string; url: string; lineNumber: number }): string {
  return `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}`;
}

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

function summarize(profile: Profile, records: number): void {
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

/** A minimal Chrome DevTools protocol client: one request at a time is all this needs. */
async function inspector(url: string) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result ?? msg.error);
  };
  return {
    send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close: () => ws.close(),
  };
}

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
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--inspect=127.0.0.1:0",
      new URL("../../main.ts", import.meta.url).pathname,
      ...["archive", "--until-end", "--group", group, "--bucket", bench.bucket, "--db-schema", schema],
      ...["--http-port", String(port)],
    ],
    env: archiveEnv({ VETO_FILE: vetoAllBut(topic), LOG_LEVEL: "info" }),
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let cdp: Awaited<ReturnType<typeof inspector>> | undefined;
  let started: { at: number; cpu: number; peers: Map<string, number> } | undefined;
  let resolveStart!: () => void;
  const startSeen = new Promise<void>((r) => resolveStart = r);
  const readLog = (async () => {
    for await (const line of textLines(child.stderr)) {
      const ws = /Debugger listening on (ws:\S+)/.exec(line);
      if (ws) {
        cdp = await inspector(ws[1]!);
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.setSamplingInterval", { interval: SAMPLING_US });
      }
      if (started === undefined && /Consumer has joined the group/.test(line)) {
        await cdp!.send("Profiler.start");
        started = { at: performance.now(), cpu: cpuSeconds(child.pid)!, peers: peerCpu() };
        resolveStart();
      }
    }
  })();
  await startSeen;
  while ((await archivedCount(port).catch(() => 0)) < count) await new Promise((r) => setTimeout(r, 50));
  const seconds = (performance.now() - started!.at) / 1000;
  const cpu = cpuSeconds(child.pid)! - started!.cpu;
  const after = peerCpu();
  const { profile } = (await cdp!.send("Profiler.stop")) as { profile: Profile };
  cdp!.close();
  await child.status;
  await readLog;
  const ms = (s: number) => (s * 1000 / count).toFixed(2);
  console.log(`records: ${count} of ${label} in ${seconds.toFixed(2)} s (${(count / seconds).toFixed(0)}/s)`);
  console.log(`cpu ms/record: archiver ${ms(cpu)} (under the profiler)`);
  for (const [name, end] of after) {
    console.log(`cpu ms/record: ${name} ${ms(end - (started!.peers.get(name) ?? 0))}`);
  }
  summarize(profile, count);

  // The same split for the PUT ceiling (this process PUTting as many objects), to set the archive's against.
  const archiveDefaults = parseArchiveArgs([], Deno.env.toObject());
  const before = { cpu: cpuSeconds("self")!, peers: peerCpu() };
  const put = await putCeiling(bench.store, `${bench.id}-put`, size, count, {
    slots: archiveDefaults.putConcurrency,
    inflightBytes: archiveDefaults.maxInflightBytes,
  });
  const peersAfter = peerCpu();
  console.log(`put ceiling: ${(count / put.seconds).toFixed(0)}/s`);
  console.log(`put ceiling cpu ms/record: client ${ms(cpuSeconds("self")! - before.cpu)}`);
  for (const [name, end] of peersAfter) {
    console.log(`put ceiling cpu ms/record: ${name} ${ms(end - (before.peers.get(name) ?? 0))}`);
  }
} finally {
  if (Deno.env.get("BENCH_KEEP") === "1") note(`kept ${bench.id}`);
  else await closeBench(bench);
}
