import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import { type CodecName, codecs, installCodecs, snappyDecode } from "../../lib/kafka/codecs.ts";
import { decodeFrame, encodeFrame, xxh32 } from "../../lib/kafka/lz4_frame.ts";

const dir = new URL("../testdata/codecs/", import.meta.url);
const fixture = (name: string) => Deno.readFileSync(new URL(name, dir));
const plain = fixture("plain.bin");

const VECTORS: Array<[string, CodecName, Uint8Array]> = [
  ["snappy-raw.bin", "snappy", plain],
  ["snappy-xerial.bin", "snappy", plain],
  ["lz4-librdkafka.bin", "lz4", plain],
  ["lz4-checksums-linked.bin", "lz4", plain],
  ["lz4-legacy-hc.bin", "lz4", plain],
  ["lz4-empty.bin", "lz4", new Uint8Array(0)],
  ["zstd-sized.bin", "zstd", plain],
  ["zstd-streamed.bin", "zstd", plain],
];

function pseudoRandom(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

const SAMPLES: Array<[string, Uint8Array]> = [
  ["empty", new Uint8Array(0)],
  ["one byte", Uint8Array.of(42)],
  ["13 bytes", new TextEncoder().encode("aaaaaaaaaaaaa")],
  ["exactly one block of zeros", new Uint8Array(65536)],
  ["one block plus one", new Uint8Array(65537).fill(7)],
  ["random (incompressible)", pseudoRandom(200_000, 1)],
  ["short period repeats", new TextEncoder().encode("abcab".repeat(30_000))],
  ["reference sample", plain],
];

Deno.test("xxh32 matches the reference implementation (python xxhash)", () => {
  const enc = new TextEncoder();
  const bytes256 = Uint8Array.from({ length: 768 }, (_, i) => i % 256);
  const cases: Array<[Uint8Array, number, number]> = [
    [new Uint8Array(0), 46947589, 3618484216],
    [enc.encode("a"), 1426945110, 3666002600],
    [enc.encode("abc"), 852579327, 1473238068],
    [bytes256, 3451471537, 3105355283],
    [enc.encode("0123456789abcdef".repeat(5) + "xyz"), 1088411995, 1087589311],
  ];
  for (const [data, seed0, seed7] of cases) {
    assert.equal(xxh32(data), seed0);
    assert.equal(xxh32(data, 7), seed7);
  }
});

for (const [file, codec, expected] of VECTORS) {
  Deno.test(`${codec} decodes ${file} (written by the reference implementation)`, async () => {
    assert.deepEqual(await codecs[codec].decompress(fixture(file)), expected);
  });
}

for (const [label, data] of SAMPLES) {
  for (const codec of ["snappy", "lz4", "zstd"] as const) {
    Deno.test(`${codec} round-trips ${label}`, async () => {
      const compressed = await codecs[codec].compress(data);
      assert.deepEqual(new Uint8Array(await codecs[codec].decompress(compressed)), data);
    });
  }
}

Deno.test("lz4 writes independent 64 KiB blocks without checksums, as Kafka requires", () => {
  const frame = encodeFrame(plain);
  assert.deepEqual([...frame.subarray(0, 4)], [0x04, 0x22, 0x4d, 0x18]);
  assert.equal(frame[4], 0x60, "FLG: version 01 + block independence, nothing else");
  assert.equal(frame[5], 0x40, "BD: 64 KiB maximum block size");
  // Every block must decode on its own: re-frame each block alone and decode it.
  let at = 7;
  let decoded = 0;
  for (;;) {
    const word = new DataView(frame.buffer, frame.byteOffset + at, 4).getUint32(0, true);
    if (word === 0) break;
    const size = word & 0x7fffffff;
    const single = new Uint8Array([
      ...frame.subarray(0, 7),
      ...frame.subarray(at, at + 4 + size),
      0,
      0,
      0,
      0,
    ]);
    decoded += decodeFrame(single).length;
    at += 4 + size;
  }
  assert.equal(decoded, plain.length);
  assert.ok(frame.length < plain.length / 2, "the sample is compressible: the encoder must compress it");
});

Deno.test("corrupt input fails with KAFKA_DECOMPRESS_FAILED instead of yielding wrong bytes", async () => {
  const lz4 = fixture("lz4-checksums-linked.bin");
  const flipped = lz4.slice();
  flipped[flipped.length - 2]! ^= 0x01; // content checksum
  const cases: Array<[CodecName, Uint8Array]> = [
    ["lz4", lz4.subarray(0, lz4.length - 10)],
    ["lz4", flipped],
    ["lz4", Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)],
    ["lz4", new Uint8Array([...fixture("lz4-empty.bin"), 0])],
    ["snappy", Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00)],
    ["snappy", fixture("snappy-xerial.bin").subarray(0, 1000)],
    ["zstd", fixture("zstd-sized.bin").subarray(0, 1000)],
    ["zstd", Uint8Array.of(1, 2, 3, 4)],
  ];
  for (const [codec, data] of cases) {
    await assert.rejects(codecs[codec].decompress(data), (error: Error & { code?: string }) => {
      assert.equal(error.code, "KAFKA_DECOMPRESS_FAILED", `${codec}: ${error.message}`);
      assert.match(error.message, new RegExp(codec));
      return true;
    });
  }
});

Deno.test("snappy keeps xerial chunk boundaries out of the output", () => {
  assert.deepEqual(snappyDecode(fixture("snappy-xerial.bin")), plain);
});

Deno.test("installCodecs registers every codec in kafkajs, idempotently, speaking Buffers", async () => {
  installCodecs();
  installCodecs();
  const types = [
    ["snappy-raw.bin", CompressionTypes.Snappy],
    ["lz4-librdkafka.bin", CompressionTypes.LZ4],
    ["zstd-streamed.bin", CompressionTypes.ZSTD],
  ] as const;
  for (const [file, type] of types) {
    const codec = CompressionCodecs[type]();
    const out = await codec.decompress(Buffer.from(fixture(file)));
    assert.ok(Buffer.isBuffer(out), "kafkajs's Decoder needs a Buffer");
    assert.deepEqual(new Uint8Array(out), plain);
    const compressed = await codec.compress({ buffer: Buffer.from(plain) });
    assert.ok(Buffer.isBuffer(compressed));
    assert.deepEqual(new Uint8Array(await codec.decompress(compressed)), plain);
  }
});
