// What Linux tells about a process: CPU time used and peak resident memory (/proc/<pid>/stat and status).

// USER_HZ: the unit of the CPU times in /proc/<pid>/stat; 100 on every Linux architecture Deno runs on.
const TICKS_PER_SECOND = 100;

function read(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** User + system CPU seconds of `pid` (all its threads) so far; null once the process is gone. */
export function cpuSeconds(pid: number | "self"): number | null {
  const text = read(`/proc/${pid}/stat`);
  if (text === null) return null;
  // Fields after the parenthesised command name (which may contain spaces): utime and stime are fields 14, 15.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Peak resident set of `pid` so far (VmHWM, else VmRSS) in bytes; 0 once the process is gone. */
export function residentPeak(pid: number): number {
  const text = read(`/proc/${pid}/status`);
  if (text === null) return 0;
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return Math.max(kib("VmHWM"), kib("VmRSS")) * 1024;
}

/** The services on this machine that archive and restore make work, by a pattern of their command lines. */
function peers(): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const s3 = new URL(Deno.env.get("S3_ENDPOINT") ?? "http://127.0.0.1:19000").host;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let cmd: string;
    try {
      cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
    } catch {
      continue;
    }
    const name = /minio/.test(cmd) && cmd.includes(s3)
      ? "minio"
      : /java .*kafka/.test(cmd)
      ? "kafka"
      : /^postgres/.test(cmd) || /bin\/postgres /.test(cmd)
      ? "postgres"
      : undefined;
    if (name !== undefined) out.set(name, [...(out.get(name) ?? []), Number(entry.name)]);
  }
  return out;
}

/** CPU seconds so far of each service (MinIO, the Kafka broker, PostgreSQL). */
export function peerCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, pids] of peers()) {
    out.set(name, pids.reduce((n, pid) => n + (cpuSeconds(pid) ?? 0), 0));
  }
  return out;
}

/** CPU seconds the services (peerCpu) spent while `work` ran, and its result. */
export async function withPeerCpu<T>(work: () => Promise<T>): Promise<{ result: T; peerCpuSeconds: number }> {
  const total = () => [...peerCpu().values()].reduce((a, b) => a + b, 0);
  const before = total();
  const result = await work();
  return { result, peerCpuSeconds: total() - before };
}
