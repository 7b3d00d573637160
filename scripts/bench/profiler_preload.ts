// `deno run --preload scripts/bench/profiler_preload.ts main.ts ...` with HK_CPU_PROFILE=<file>: V8's sampling
// profiler inside the command itself, started by the first SIGUSR2 and stopped (its profile written to the file)
// by the second, or when the command exits. In-process, through node:inspector, rather than over `--inspect`:
// with an inspector server listening, Deno's fetch reports every request to it (Network.* events, the body decoded
// to text), which cost more CPU than the request itself and made the profile of a 64 KiB PUT mostly the profiler.
import { Session } from "node:inspector";

const out = Deno.env.get("HK_CPU_PROFILE");
if (out !== undefined) {
  const session = new Session();
  session.connect();
  const post = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      session.post(method, params, (e, r) => e ? reject(e) : resolve(r as Record<string, unknown>))
    );
  const interval = Number(Deno.env.get("HK_CPU_PROFILE_US") ?? "250");
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval });
  let state: "idle" | "running" | "done" = "idle";
  const stop = async () => {
    if (state !== "running") return;
    state = "done";
    const { profile } = await post("Profiler.stop");
    await Deno.writeTextFile(out, JSON.stringify(profile));
  };
  Deno.addSignalListener("SIGUSR2", () => {
    if (state === "idle") {
      state = "running";
      void post("Profiler.start");
    } else void stop();
  });
  // A command that ends by Deno.exit (main.ts does) would end the profile unwritten.
  const exit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number) => stop().finally(() => exit(code)),
    configurable: true,
    writable: true,
  });
}
