// Kafka's primitive encodings (big-endian integers, zigzag varints, length-prefixed bytes and strings), written
// in one pass into a buffer whose exact size was computed first: no growing, no copies.
import type { Buffer } from "node:buffer";

// Zigzag varints (Kafka's record fields). Numbers stay exact up to 2^53, far beyond any length or offset delta;
// only a timestamp delta can exceed that, and takes the bigint path.
export const zigzag = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1);

export function varintSize(zigzagged: number): number {
  let size = 1;
  for (let z = zigzagged; z >= 0x80; z = Math.floor(z / 0x80)) size++;
  return size;
}

const SAFE_DELTA = 2n ** 52n;

/** A timestamp delta, zigzagged as Kafka's varlong (int64, wrapping like Java's long arithmetic). */
export function zigzagDelta(delta: bigint): number | bigint {
  if (delta > -SAFE_DELTA && delta < SAFE_DELTA) return zigzag(Number(delta));
  const wrapped = BigInt.asIntN(64, delta);
  return BigInt.asUintN(64, (wrapped << 1n) ^ (wrapped >> 63n));
}

export function varlongSize(zigzagged: number | bigint): number {
  if (typeof zigzagged === "number") return varintSize(zigzagged);
  let size = 1;
  for (let z = zigzagged; z >= 0x80n; z >>= 7n) size++;
  return size;
}

export const bytesSize = (bytes: Uint8Array | null) =>
  bytes === null ? 1 : varintSize(zigzag(bytes.length)) + bytes.length;

/** Sequential big-endian writes into one buffer whose size was computed beforehand. */
export interface Writer {
  readonly buf: Buffer;
  readonly view: DataView;
  /** Bytes written so far: where the next write goes. */
  readonly at: number;
  int8(n: number): void;
  int16(n: number): void;
  int32(n: number): void;
  int64(n: bigint): void;
  raw(bytes: Uint8Array): void;
  varint(zigzagged: number): void;
  varlong(zigzagged: number | bigint): void;
  /** Varint length (-1 for null), then the bytes. */
  bytes(bytes: Uint8Array | null): void;
  /** int16 length (-1 for null), then UTF-8: Kafka's (nullable) string. */
  string(text: Uint8Array | null): void;
}

export function createWriter(buf: Buffer): Writer {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  const raw = (bytes: Uint8Array) => {
    buf.set(bytes, at);
    at += bytes.length;
  };
  const int16 = (n: number) => {
    view.setInt16(at, n);
    at += 2;
  };
  const varint = (zigzagged: number) => {
    let z = zigzagged;
    while (z >= 0x80) {
      buf[at++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    buf[at++] = z;
  };
  return {
    buf,
    view,
    get at() {
      return at;
    },
    int8(n) {
      view.setInt8(at, n);
      at += 1;
    },
    int16,
    int32(n) {
      view.setInt32(at, n);
      at += 4;
    },
    int64(n) {
      view.setBigInt64(at, n);
      at += 8;
    },
    raw,
    varint,
    varlong(zigzagged) {
      if (typeof zigzagged === "number") return varint(zigzagged);
      let z = zigzagged;
      while (z >= 0x80n) {
        buf[at++] = Number(z & 0x7fn) | 0x80;
        z >>= 7n;
      }
      buf[at++] = Number(z);
    },
    bytes(bytes) {
      if (bytes === null) return varint(1);
      varint(zigzag(bytes.length));
      raw(bytes);
    },
    string(text) {
      if (text === null) return int16(-1);
      int16(text.length);
      raw(text);
    },
  };
}

export const stringSize = (text: Uint8Array | null) => 2 + (text?.length ?? 0);
