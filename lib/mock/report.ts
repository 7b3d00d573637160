// What a mock-hop run reports: the case table for --list-cases and the closing summary per case (progress is
// lib/cli/progress.ts).
import { CASES } from "./cases.ts";
import { type Compression, COMPRESSIONS, type MockRecord } from "./types.ts";

function table(header: string[], rows: string[][], rightAligned: (column: number) => boolean): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAligned(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** `--list-cases`: every case with its group, its share of the default mix, and what it sends. */
export function renderCaseList(): string {
  const total = CASES.reduce((sum, c) => sum + c.weight, 0);
  const rows = CASES.map((c) => [
    c.name,
    c.group,
    c.weight > 0 ? `${((100 * c.weight) / total).toFixed(1)}%` : "opt-in",
    c.summary,
  ]);
  return table(["case", "group", "mix", "what it sends"], rows, (i) => i === 2);
}

interface CaseCounts {
  records: number;
  duplicates: number;
  clashes: number;
  archiveUuids: number;
  vetoed: number;
  valueBytes: number;
}

export interface Tally {
  add(record: MockRecord): void;
  readonly records: number;
  readonly valueBytes: number;
  /** The closing summary: per case, then per compression and per topic. */
  render(elapsedMs: number): string;
}

export function createTally(): Tally {
  const cases = new Map<string, CaseCounts>();
  const compressions = new Map<Compression, number>();
  const topics = new Map<string, Map<number, number>>();
  let records = 0;
  let valueBytes = 0;
  return {
    add(record) {
      const counts = cases.get(record.case) ??
        { records: 0, duplicates: 0, clashes: 0, archiveUuids: 0, vetoed: 0, valueBytes: 0 };
      const size = record.value?.length ?? 0;
      counts.records++;
      if (record.expect.duplicateOf !== null) counts.duplicates++;
      if (record.expect.source === "clash") counts.clashes++;
      if (record.expect.source === "archive") counts.archiveUuids++;
      if (record.expect.vetoed) counts.vetoed++;
      counts.valueBytes += size;
      cases.set(record.case, counts);
      compressions.set(record.compression, (compressions.get(record.compression) ?? 0) + 1);
      const partitions = topics.get(record.topic) ?? new Map<number, number>();
      partitions.set(record.partition, (partitions.get(record.partition) ?? 0) + 1);
      topics.set(record.topic, partitions);
      records++;
      valueBytes += size;
    },
    get records() {
      return records;
    },
    get valueBytes() {
      return valueBytes;
    },
    render(elapsedMs) {
      const ordered = CASES.map((c) => c.name).filter((name) => cases.has(name));
      const row = (name: string, c: CaseCounts) => [
        name,
        String(c.records),
        String(c.duplicates),
        String(c.clashes),
        String(c.archiveUuids),
        String(c.vetoed),
        String(c.valueBytes),
      ];
      const sum = (key: keyof CaseCounts) => [...cases.values()].reduce((s, c) => s + c[key], 0);
      const totals: CaseCounts = {
        records,
        duplicates: sum("duplicates"),
        clashes: sum("clashes"),
        archiveUuids: sum("archiveUuids"),
        vetoed: sum("vetoed"),
        valueBytes,
      };
      const seconds = elapsedMs / 1000;
      const perCodec = COMPRESSIONS.filter((c) => compressions.has(c)).map((c) =>
        `${c} ${compressions.get(c)}`
      );
      const perTopic = [...topics].sort(([a], [b]) => (a < b ? -1 : 1)).map(([topic, partitions]) =>
        `  ${topic}: ${[...partitions].sort(([a], [b]) => a - b).map(([p, n]) => `[${p}] ${n}`).join(", ")}`
      );
      return table(
        ["case", "records", "duplicates", "clashes", "archive-uuid", "vetoed", "value-bytes"],
        [...ordered.map((name) => row(name, cases.get(name)!)), row("total", totals)],
        (i) => i > 0,
      ) +
        `sent ${records} records (${valueBytes} value bytes) in ${seconds.toFixed(1)} s` +
        (seconds > 0 ? ` (${(records / seconds).toFixed(1)} records/s)` : "") + "\n" +
        `compression: ${perCodec.join(", ")}\n` +
        `topics [partition] records:\n${perTopic.join("\n")}\n`;
    },
  };
}
