// `deno bench --allow-all scripts/crc32c_bench.ts`: the record batch checksum (CRC-32C) as kafkajs computes it,
// one byte per step, against lib/kafka/crc32c.ts (slicing-by-16), at the record sizes `deno task bench` uses and at a
// 4 MiB produce request. (hash-wasm's WebAssembly CRC-32C was measured too, at the speed of lib/kafka/crc32c.ts; it was
// not adopted, to keep a dependency out for no gain.)
import { crc32c } from "../lib/kafka/crc32c.ts";
import { kafkajsModules } from "../lib/kafka/kafkajs_internals.ts";
import { randomBytes } from "./bench/workload.ts";

const kafkajs = kafkajsModules.crc32c as (bytes: Uint8Array) => number;

for (
  const [label, length] of [["1KiB", 1024], ["64KiB", 65536], ["1MiB", 2 ** 20], [
    "4MiB",
    4 * 2 ** 20,
  ]] as const
) {
  // Batches start anywhere in the request buffer: an unaligned view, as in a real request.
  const data = randomBytes(length + 1).subarray(1);
  if (crc32c(data) !== kafkajs(data)) {
    throw new Error(`lib/kafka/crc32c.ts disagrees with kafkajs at ${label}`);
  }
  Deno.bench({ name: `kafkajs crc32C ${label}`, group: label, baseline: true, fn: () => void kafkajs(data) });
  Deno.bench({ name: `lib/kafka/crc32c.ts ${label}`, group: label, fn: () => void crc32c(data) });
}
