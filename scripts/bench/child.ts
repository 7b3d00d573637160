// The real commands as child processes (`main.ts archive`, `main.ts restore`), watched from outside: wall time from
// spawn to exit, the moment a log line shows the work began, the moment a probe sees all of it done, and the peak
// resident memory sampled from /proc.
import { spawnMain, textLines } from "../../tests/support/archive_helpers.ts";
import { cpuSeconds, residentPeak } from "./proc.ts";
import { note } from "./report.ts";

export interface ChildOptions {
  /** A stderr line that marks the start of the work (start-up before it is timed separately). */
  startMarker: RegExp;
  /** True once everything the child was asked to do is visible from outside (index, metrics, target topic). */
  done: () => Promise<boolean>;
  timeoutSeconds: number;
}

export interface ChildRun {
  code: number;
  /** Spawn to exit. */
  wallSeconds: number;
  /** Spawn to the start marker. */
  startupSeconds: number;
  /** Start marker to the first probe that saw everything done. */
  workSeconds: number;
  /** CPU seconds the child used between the start marker and done (all threads). */
  workCpuSeconds: number;
  /** Highest VmHWM/VmRSS read from /proc/<pid>/status while the child ran. */
  peakRssBytes: number;
}

/** Rejects when `promise` takes longer than `seconds`: a stuck phase must fail the run, not hang it. */
export function deadline<T>(what: string, promise: Promise<T>, seconds: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

// RSS sampling and progress probing period: short against 10-20 s phases, cheap for the machine.
const SAMPLE_MS = 50;
const TAIL_LINES = 40;

export async function runChild(
  args: string[],
  env: Record<string, string>,
  o: ChildOptions,
): Promise<ChildRun> {
  const spawned = performance.now();
  const child = spawnMain(args, env);
  let peak = 0;
  let startedAt: number | undefined;
  let doneAt: number | undefined;
  // CPU seconds at the start marker, at done, and at the last sample (for a child that exits between probes).
  let cpuAtStart = 0;
  let cpuAtDone: number | undefined;
  let cpuLast = 0;
  let exited = false;
  const tail: string[] = [];

  const sampler = setInterval(() => {
    peak = Math.max(peak, residentPeak(child.pid));
    cpuLast = cpuSeconds(child.pid) ?? cpuLast;
  }, SAMPLE_MS);
  const readLog = (async () => {
    for await (const line of textLines(child.stderr)) {
      if (startedAt === undefined && o.startMarker.test(line)) {
        startedAt = performance.now();
        cpuAtStart = cpuSeconds(child.pid) ?? 0;
      }
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    }
  })();
  const probe = (async () => {
    while (!exited && doneAt === undefined) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
      if (startedAt !== undefined && await o.done().catch(() => false)) {
        doneAt = performance.now();
        cpuAtDone = cpuSeconds(child.pid) ?? undefined;
      }
    }
  })();

  const command = args[0] ?? "child";
  let status: Deno.CommandStatus | "timeout";
  try {
    status = await deadline(command, child.status, o.timeoutSeconds);
  } catch {
    status = "timeout";
    child.kill("SIGKILL");
    await child.status;
  }
  const exitedAt = performance.now();
  exited = true;
  clearInterval(sampler);
  await Promise.all([readLog, probe]);
  if (status === "timeout" || !status.success || startedAt === undefined) {
    note(`${command} output (last ${TAIL_LINES} lines):\n${tail.join("\n")}`);
    const why = status === "timeout"
      ? `did not finish within ${o.timeoutSeconds} s`
      : !status.success
      ? `exited with ${status.code}`
      : `never logged ${o.startMarker}`;
    throw new Error(`${command} ${why}`);
  }
  // A child that finished between two probes is done when it exited.
  const end = doneAt ?? exitedAt;
  return {
    code: status.code,
    wallSeconds: (exitedAt - spawned) / 1000,
    startupSeconds: (startedAt - spawned) / 1000,
    workSeconds: (end - startedAt) / 1000,
    workCpuSeconds: (cpuAtDone ?? cpuLast) - cpuAtStart,
    peakRssBytes: peak,
  };
}
