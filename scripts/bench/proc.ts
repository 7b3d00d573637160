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
