// V8 CPU profiles (node:inspector's Profiler.stop) split into named parts of the work: shared by the archive and
// restore profile (profile.ts) and serve's (serve_profile.ts), which differ only in their tables of parts.

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A part's name, and whether a frame (its script's URL and function name) does that part's work. */
export type Part = [string, (url: string, fn: string) => boolean];

export function frameName(f: CallFrame): string {
  return `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}`;
}

/**
 * The part a sampled node's time goes to: "(idle)", "GC", or the first part matching the nearest frame on its stack
 * that matches one (walking up to the root); "" when none does.
 */
export function partNamer(profile: Profile, parts: readonly Part[]): (id: number) => string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const memo = new Map<number, string>();
  const partOf = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const { url, functionName } = byId.get(id)!.callFrame;
    const own = parts.find(([, test]) => test(url, functionName))?.[0];
    const up = parentOf.get(id);
    const name = own ?? (up !== undefined ? partOf(up) : "");
    memo.set(id, name);
    return name;
  };
  return (id) => {
    const fn = byId.get(id)!.callFrame.functionName;
    return fn === "(idle)" ? "(idle)" : fn === "(garbage collector)" ? "GC" : partOf(id);
  };
}

/**
 * `main.ts <args>` under V8's sampling profiler (scripts/bench/profiler_preload.ts, driven by the env's
 * HK_CPU_PROFILE variables), with only `env` as its environment and its stderr piped for the caller to read.
 */
export function spawnUnderProfiler(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--preload",
      new URL("./profiler_preload.ts", import.meta.url).pathname,
      new URL("../../main.ts", import.meta.url).pathname,
      ...args,
    ],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}
