// Output of the benchmark: figures on stdout as `name: value` lines and nothing else (so they can be diffed and
// parsed), progress on stderr.

const encoder = new TextEncoder();

/** One figure; ratios and rates with 2 decimals unless told otherwise. */
export function figure(name: string, value: number, digits = 2): void {
  Deno.stdout.writeSync(encoder.encode(`${name}: ${value.toFixed(digits)}\n`));
}

export function note(message: string): void {
  Deno.stderr.writeSync(encoder.encode(`[bench] ${message}\n`));
}

export const MiB = 2 ** 20;

/** A throughput measured over `seconds`: records/s and MiB/s of value bytes (the payload every phase carries). */
export interface Rate {
  records: number;
  valueBytes: number;
  seconds: number;
  /** CPU seconds the measured process (the command, or the benchmark itself for a ceiling) used meanwhile. */
  cpuSeconds: number;
  /** CPU seconds MinIO, the broker and PostgreSQL used meanwhile, where measured (they share the cores). */
  peerCpuSeconds?: number;
}

/** The CPU of every process taking part, per record: what two shared cores divide between them. */
export const machineCpuMsPerRecord = (r: Rate) =>
  ((r.cpuSeconds + (r.peerCpuSeconds ?? 0)) * 1000) / r.records;

export const recordsPerSecond = (r: Rate) => r.records / r.seconds;
export const mibPerSecond = (r: Rate) => r.valueBytes / MiB / r.seconds;

/**
 * `<name>_records_per_s`, `<name>_MiB_per_s` and `<name>_cpu_ms_per_record`: the last is what one process spent
 * per record, which other load on the machine disturbs far less than the rates.
 */
export function rateFigures(name: string, r: Rate): void {
  figure(`${name}_records_per_s`, recordsPerSecond(r), 0);
  figure(`${name}_MiB_per_s`, mibPerSecond(r), 1);
  figure(`${name}_cpu_ms_per_record`, (r.cpuSeconds * 1000) / r.records, 3);
  if (r.peerCpuSeconds !== undefined) {
    figure(`${name}_machine_cpu_ms_per_record`, machineCpuMsPerRecord(r), 3);
  }
}

/** The middle value of `values` (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
