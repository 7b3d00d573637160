// Record-batch compression codecs for kafkajs, which ships only gzip. They must read batches exactly as
// librdkafka producers (hop-client, confluent-kafka) and Java producers write them, and write batches that
// those clients and the broker's own validation accept. All are pure JS or built into Deno (zstd compression
// is node:zlib), so `deno compile` needs no native add-ons.
import { Buffer } from "node:buffer";
import { promisify } from "node:util";
import { zstdCompress } from "node:zlib";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import snappy from "snappyjs";
import { decompress as fzstdDecompress } from "fzstd";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { decodeFrame, encodeFrame } from "./lz4_frame.ts";
import { concat } from "../runtime/bytes.ts";

export type CodecName = "snappy" | "lz4" | "zstd";

export interface Codec {
  compress(data: Uint8Array): Promise<Uint8Array>;
  decompress(data: Uint8Array): Promise<Uint8Array>;
}

// snappy-java's stream header (Java clients): magic, then big-endian version 1 and minimum-compatible 1.
const XERIAL_MAGIC = Uint8Array.of(0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00);
const XERIAL_HEADER_LENGTH = 16;

const zstdCompressAsync = promisify(zstdCompress);

function codecError(codec: CodecName, action: "compress" | "decompress", cause: unknown): Error {
  const fix = "the batch is corrupt or written by a producer this codec does not understand " +
    "(report it with the topic and offset)";
  return hkError(
    action === "decompress" ? "KAFKA_DECOMPRESS_FAILED" : "KAFKA_COMPRESS_FAILED",
    `cannot ${action} a ${codec} record batch: ${errorMessage(cause)}; ${fix}`,
    { cause },
  );
}

function isXerial(data: Uint8Array): boolean {
  return data.length >= XERIAL_HEADER_LENGTH && XERIAL_MAGIC.every((byte, i) => data[i] === byte);
}

// Callers compare results with deepStrictEqual, which tells a Buffer from a Uint8Array: hand out the latter.
function plainView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function snappyBlock(data: Uint8Array): Uint8Array {
  // snappyjs answers a Buffer with a Buffer: a plain view keeps the result type predictable.
  return snappy.uncompress(plainView(data));
}

/** Raw snappy (librdkafka, kafkajs-snappy) or xerial-framed snappy (Java clients). */
export function snappyDecode(data: Uint8Array): Uint8Array {
  if (!isXerial(data)) return snappyBlock(data);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const chunks: Uint8Array[] = [];
  for (let at = XERIAL_HEADER_LENGTH; at < data.length;) {
    if (at + 4 > data.length) throw new Error("truncated xerial chunk length");
    const length = view.getInt32(at);
    at += 4;
    if (length < 0 || at + length > data.length) throw new Error("xerial chunk runs past the batch");
    chunks.push(snappyBlock(data.subarray(at, at + length)));
    at += length;
  }
  return concat(chunks);
}

/** Raw snappy, as librdkafka writes it; every Kafka reader accepts raw as well as xerial framing. */
export function snappyEncode(data: Uint8Array): Uint8Array {
  return snappy.compress(plainView(data));
}

function guarded(name: CodecName, codec: Codec): Codec {
  return {
    async compress(data) {
      try {
        return await codec.compress(data);
      } catch (error) {
        throw codecError(name, "compress", error);
      }
    },
    async decompress(data) {
      try {
        return await codec.decompress(data);
      } catch (error) {
        throw codecError(name, "decompress", error);
      }
    },
  };
}

/** The codecs by name, as plain byte functions (errors coded KAFKA_DECOMPRESS_FAILED / KAFKA_COMPRESS_FAILED). */
export const codecs: Readonly<Record<CodecName, Codec>> = Object.freeze({
  snappy: guarded("snappy", {
    compress: (data) => Promise.resolve(snappyEncode(data)),
    decompress: (data) => Promise.resolve(snappyDecode(data)),
  }),
  lz4: guarded("lz4", {
    compress: (data) => Promise.resolve(encodeFrame(data)),
    decompress: (data) => Promise.resolve(decodeFrame(data)),
  }),
  // Decoding uses fzstd because Deno's node:zlib zstd returns nothing, without an error, for a truncated frame.
  // fzstd also reads frames without a content size (streaming producers) and concatenated frames.
  zstd: guarded("zstd", {
    compress: async (data) => plainView(await zstdCompressAsync(data)),
    decompress: (data) => Promise.resolve(fzstdDecompress(data)),
  }),
});

const KAFKA_TYPES: Readonly<Record<CodecName, keyof typeof CompressionCodecs>> = {
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

function asBuffer(bytes: Uint8Array): Buffer {
  // kafkajs's Decoder calls Buffer methods (readInt32BE, ...) on what decompress returns.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function kafkajsCodec(codec: Codec) {
  return {
    // kafkajs hands compress() its Encoder and decompress() a Buffer.
    compress: async (encoder: { buffer: Buffer }) => asBuffer(await codec.compress(encoder.buffer)),
    decompress: async (buffer: Buffer) => asBuffer(await codec.decompress(buffer)),
  };
}

/** Registers snappy, lz4 and zstd in kafkajs's codec table; safe to call any number of times. */
export function installCodecs(): void {
  for (const name of Object.keys(KAFKA_TYPES) as CodecName[]) {
    const implementation = kafkajsCodec(codecs[name]);
    CompressionCodecs[KAFKA_TYPES[name]] = () => implementation;
  }
}
