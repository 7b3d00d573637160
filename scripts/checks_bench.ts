// `deno bench --allow-all scripts/checks_bench.ts`: what restore's checks cost per record, alone, at the sizes
// `deno task bench` uses: the whole object check restore runs before publishing (lib/format/object_check.ts: the object's
// CRC-32, decoding, the value's CRC-32 and the content SHA-256) and the batch CRC-32C its produce requests carry,
// beside each checksum by itself. docs/benchmarks.md, "Figures of issue 17", cites the 1 MiB figures.
import { crc32, sha256 } from "../lib/format/checksum.ts";
import { contentDigest, legacyUuid } from "../lib/format/identity.ts";
import { crc32c } from "../lib/kafka/crc32c.ts";
import { verifyObject } from "../lib/format/object_check.ts";
import { encodeArchiveObject } from "../lib/format/record.ts";
import { rowFromObject } from "../lib/verify/check.ts";
import { randomBytes } from "./bench/workload.ts";

for (const [label, length] of [["1KiB", 1024], ["64KiB", 65536], ["1MiB", 2 ** 20]] as const) {
  const record = {
    topic: "bench.checks",
    partition: 0,
    offset: 1n,
    timestamp: 1_705_449_600_000n,
    key: null,
    value: randomBytes(length),
    headers: [{ key: "_format", value: new TextEncoder().encode("blob") }],
  };
  const uuid = legacyUuid(record.topic, record.timestamp, contentDigest(record));
  const bytes = encodeArchiveObject(record, { uuid, isClientUuid: false }, {
    archivedAt: 1n,
    archiverVersion: "b",
  });
  const rebuilt = rowFromObject(`bench.checks/2024/01/17/${uuid}.bson`, bytes, "bench");
  if (!("row" in rebuilt)) throw new Error("the bench object does not rebuild its row");
  const row = rebuilt.row;
  if ("problem" in verifyObject(row, bytes)) throw new Error("the bench object fails its own check");

  Deno.bench({
    name: `object check ${label}`,
    group: label,
    baseline: true,
    fn: () => void verifyObject(row, bytes),
  });
  Deno.bench({ name: `CRC-32C (batch) ${label}`, group: label, fn: () => void crc32c(record.value) });
  Deno.bench({ name: `SHA-256 ${label}`, group: label, fn: () => void sha256(record.value) });
  Deno.bench({ name: `CRC-32 ${label}`, group: label, fn: () => void crc32(bytes) });
}
