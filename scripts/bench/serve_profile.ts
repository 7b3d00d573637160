// `deno run -A scripts/bench/serve_profile.ts` (services' environment set): where `serve` spends its CPU on
// GET /msg/{uuid} of 1 KiB records by 64 concurrent keep-alive clients, as scripts/bench/serve.ts loads it. The
// real `main.ts serve` child runs under V8's sampling profiler (scripts/bench/profiler_preload.ts), started after
// a warm-up and stopped after BENCH_SERVE_REQUESTS requests (default 4000). Printed (stdout): requests/s, the CPU
// per request of serve, MinIO and PostgreSQL from /proc, and serve's JS thread split by what the work is for.
import { archiveEnv, textLines, waitFor } from "../../tests/support/archive_helpers.ts";
import { cpuSeconds, peerCpu } from "./proc.ts";
import { frameName, type Part, partNamer, type Profile, spawnUnderProfiler } from "./profile_parts.ts";
import { fill } from "./serve.ts";
import { closeBench, openBench } from "./services.ts";
import { createHttp1Client } from "../../lib/store/http1.ts";

const REQUESTS = Number(Deno.env.get("BENCH_SERVE_REQUESTS") ?? "4000");
const CLIENTS = 64;

// The nearest frame on a sample's stack that says what the work is for (first match walking up).
const PARTS: Part[] = [
  ["listener (TCP, framing)", (u) => /serve\/(listener|request_framing|framing)\.ts/.test(u)],
  ["index lookup (postgres.js)", (u) => /\/postgres\//.test(u) || u.includes("/lib/index/")],
  ["store GET (sigv4, http1)", (u) => /store\/(s3_objects|sigv4|http1)\.ts/.test(u) || /aws4fetch/.test(u)],
  ["hopauth, authorisation", (u) => /serve\/hopauth/.test(u)],
  ["metrics, log", (u) => /runtime\/(metrics|log)\.ts/.test(u)],
  ["handler (route, CRC check, headers)", (u) => /lib\/serve\//.test(u)],
  ["profiler", (u) => u.endsWith("profiler_preload.ts")],
];

function summarize(profile: Profile, requests: number): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const partOf = partNamer(profile, PARTS);
  const parts = new Map<string, number>();
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    const name = partOf(id) ||
      (url.startsWith("ext:") || url === "" ? "runtime (streams, ops; no caller of ours)" : "other");
    parts.set(name, (parts.get(name) ?? 0) + us);
    const fn = `${frameName({ functionName, url, lineNumber })} [${name}]`;
    self.set(fn, (self.get(fn) ?? 0) + us);
  });
  const ms = (us: number) => (us / 1000 / requests).toFixed(3).padStart(7);
  console.log("serve's JS thread, ms/request:");
  for (const [name, us] of [...parts].sort((a, b) => b[1] - a[1])) console.log(`  ${ms(us)}  ${name}`);
  console.log("top functions by self time, ms/request:");
  for (
    const [fn, us] of [...self].sort((a, b) => b[1] - a[1]).slice(
      0,
      Number(Deno.env.get("BENCH_PROFILE_TOP") ?? "25"),
    )
  ) {
    console.log(`  ${ms(us)}  ${fn}`);
  }
}

/** `main.ts <args>` under the profiler (spawnUnderProfiler), its stderr lines kept as they come. */
function spawnProfiled(args: string[], env: Record<string, string>) {
  const child = spawnUnderProfiler(args, env);
  const lines: string[] = [];
  const drained = (async () => {
    for await (const line of textLines(child.stderr)) if (lines.length < 5000) lines.push(line);
  })();
  return {
    child,
    lines,
    kill: (signal: Deno.Signal) => {
      try {
        child.kill(signal);
      } catch { /* exited */ }
    },
    done: Promise.all([child.status, drained]),
  };
}

const bench = await openBench();
try {
  const topic = `${bench.id}-serve`;
  const schema = `${bench.schema}_serve`;
  bench.schemas.push(schema);
  const objects = await fill(bench, topic, schema, 2000);
  const out = Deno.makeTempFileSync({ prefix: "hk-serve-", suffix: ".cpuprofile" });
  const child = spawnProfiled(
    [
      "serve",
      "--http-port",
      "0",
      "--http-host",
      "127.0.0.1",
      "--bucket",
      bench.bucket,
      "--db-schema",
      schema,
    ],
    archiveEnv({ PUBLIC_TOPICS: topic, LOG_LEVEL: "info", HK_CPU_PROFILE: out, HK_CPU_PROFILE_US: "250" }),
  );
  try {
    const port = await waitFor("serve to listen", () => {
      const line = child.lines.find((l) => l.includes("serve listening"));
      return Promise.resolve(line === undefined ? undefined : JSON.parse(line).port as number);
    });
    // As scripts/bench/serve.ts loads it: keep-alive connections of the store's HTTP/1.1 client, not fetch, whose
    // own CPU would be most of this process's.
    const http = createHttp1Client({
      protocol: "http:",
      hostname: "127.0.0.1",
      port,
      ca: undefined,
      maxIdle: CLIENTS,
      idleMs: 30_000,
    });
    const run = async (requests: number) => {
      let next = 0;
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (next < requests) {
          const uuid = objects[next++ % objects.length]!.uuid;
          const resp = await http.request({ method: "GET", target: `/msg/${uuid}`, headers: [] });
          if (resp.status !== 200 || resp.body.byteLength === 0) {
            throw new Error(`GET ${uuid}: ${resp.status}`);
          }
        }
      }));
    };
    await run(CLIENTS * 8);
    child.kill("SIGUSR2");
    const cpu = cpuSeconds(child.child.pid)!;
    const peers = peerCpu();
    const self = cpuSeconds("self")!;
    const started = performance.now();
    await run(REQUESTS);
    const seconds = (performance.now() - started) / 1000;
    const ms = (s: number) => (s * 1000 / REQUESTS).toFixed(3);
    console.log(
      `== ${REQUESTS} GET /msg of 1 KiB by ${CLIENTS} clients: ${(REQUESTS / seconds).toFixed(0)}/s`,
    );
    console.log(`cpu ms/request: serve ${ms(cpuSeconds(child.child.pid)! - cpu)} (under the profiler)`);
    console.log(`cpu ms/request: clients (this process) ${ms(cpuSeconds("self")! - self)}`);
    for (const [name, end] of peerCpu()) {
      console.log(`cpu ms/request: ${name} ${ms(end - (peers.get(name) ?? 0))}`);
    }
    http.close();
    child.kill("SIGUSR2");
    await waitFor("the profile", async () => (await Deno.stat(out)).size > 0 ? true : undefined);
    await new Promise((r) => setTimeout(r, 500));
    summarize(JSON.parse(await Deno.readTextFile(out)) as Profile, REQUESTS);
    await Deno.remove(out);
  } finally {
    child.kill("SIGTERM");
    await child.done;
  }
} finally {
  await closeBench(bench);
}
