// lib/cli/selection.ts (the selection flags of query, export, verify) and lib/cli/output.ts (tables, sizes, times).
import assert from "node:assert/strict";
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatTime,
  formatTimeShort,
  renderTable,
  rowToJson,
  toJson,
} from "../../lib/cli/output.ts";
import { describeSelection, parseSelection, parseTimeArg } from "../../lib/cli/selection.ts";

const NOW = BigInt(Date.UTC(2024, 0, 17, 12));
const isUsage = (e: Error & { code?: string }) => e.code === "USAGE";

Deno.test("TIME arguments: dates, times with and without offsets, epoch ms, ages", () => {
  const t = (s: string) => parseTimeArg("query", "since", s, NOW);
  assert.equal(t("2024-01-17"), BigInt(Date.UTC(2024, 0, 17)));
  assert.equal(t("2024-01-17T06:30"), BigInt(Date.UTC(2024, 0, 17, 6, 30)), "UTC without an offset");
  assert.equal(t("2024-01-17 06:30:15.250Z"), BigInt(Date.UTC(2024, 0, 17, 6, 30, 15, 250)));
  assert.equal(t("2024-01-17T08:30:00+02:00"), BigInt(Date.UTC(2024, 0, 17, 6, 30)));
  assert.equal(t("1705449600000"), 1705449600000n);
  assert.equal(t("-1"), -1n);
  assert.equal(t("90s"), NOW - 90_000n);
  assert.equal(t("24h"), NOW - 86_400_000n);
  assert.equal(t("2w"), NOW - 1_209_600_000n);
  for (const bad of ["yesterday", "2024-13-45", "24 h", "", "2024-01-17T25:00"]) {
    assert.throws(() => t(bad), isUsage, bad);
  }
});

Deno.test("parseSelection: every flag, and the errors that name the flag", () => {
  const f = parseSelection("export", {
    topic: ["a", "b"],
    uuid: ["12345678-1234-4678-9234-567812345678".toUpperCase()],
    since: "2024-01-01",
    until: "2024-02-01",
    sender: "alice",
    format: "voevent",
    partition: "2",
  }, NOW);
  assert.deepEqual(f, {
    topics: ["a", "b"],
    uuids: ["12345678-1234-4678-9234-567812345678"],
    since: BigInt(Date.UTC(2024, 0, 1)),
    until: BigInt(Date.UTC(2024, 1, 1)),
    sender: "alice",
    format: "voevent",
    partition: 2,
  });
  assert.deepEqual(describeSelection(f).since, "2024-01-01T00:00:00.000Z");
  assert.deepEqual(parseSelection("query", {}, NOW), {});
  assert.throws(
    () => parseSelection("query", { since: "2h", until: "3h" }, NOW),
    /--since must be before --until/,
  );
  assert.throws(() => parseSelection("query", { partition: "-1" }, NOW), isUsage);
  assert.throws(
    () => parseSelection("query", { uuid: ["x"] }, NOW),
    /--uuid "x" is not a UUID.*query --help/,
  );
});

Deno.test("format: tables, sizes, counts, durations, times, JSON with int64", () => {
  assert.equal(
    renderTable([{ title: "NAME" }, { title: "N", align: "right" }], [["alpha", "1"], ["b", "1000"]]),
    "NAME      N\n-----  ----\nalpha     1\nb      1000\n",
  );
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536n), "1.5 KiB");
  assert.equal(formatBytes(5 * 2 ** 30), "5.0 GiB");
  assert.equal(formatCount(1234567n), "1,234,567");
  assert.equal(formatCount(12), "12");
  assert.equal(formatDuration(65_000), "1:05");
  assert.equal(formatDuration(3_725_000), "1:02:05");
  assert.equal(formatTime(null), "-");
  assert.equal(formatTime(-1n), "-1", "Kafka's 'no timestamp' is not a date");
  assert.equal(formatTime(0n), "1970-01-01T00:00:00.000Z");
  assert.equal(formatTimeShort(1705492800123n), "2024-01-17 12:00:00Z");
  assert.equal(formatTimeShort(-1n), "none", "tables name Kafka's 'no timestamp' instead of printing -1");
  assert.equal(formatTimeShort(-2n), "-2");
  assert.equal(formatTimeShort(null), "-");
  assert.equal(toJson({ a: 2n ** 63n - 1n }), '{"a":"9223372036854775807"}');
  const row = rowToJson({
    id: 7n,
    uuid: "u",
    topic: "t",
    timestamp: -1n,
    partition: null,
    offset: null,
    size: 1,
    key: "k",
    bucket: "b",
    crc32: 2,
    isClientUuid: false,
    messageCrc32: 3,
    archivedAt: null,
    archiverVersion: null,
    contentSha256: null,
    valueSize: null,
    sender: null,
    format: null,
    isTest: false,
    clashOf: null,
  });
  assert.equal(row.id, "7");
  assert.equal(row.time, null);
  assert.equal(row.offset, null);
  assert.equal(row.timestamp, "-1");
});
