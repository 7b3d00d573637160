// LZ4 frame format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md), as Kafka uses it for
// compression.type=lz4 since message format v1.
//
// Written here rather than taken from lz4js because lz4js's frame writer leaves the block-independence flag
// unset and lets matches cross block boundaries (Kafka brokers reject such frames: "Dependent block stream is
// unsupported"), and its block writer may start a match within 12 bytes of a full block's end, which the
// reference decoder (used by librdkafka and python-lz4) rejects. Its decoder also does no bounds checks.

import { hkError } from "../runtime/errors.ts";

const MAGIC = 0x184d2204;
const MIN_MATCH = 4;
// Spec: the last 5 bytes of a block are literals, and the last match starts at least 12 bytes before the end.
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const MAX_OFFSET = 65535;
const UNCOMPRESSED_BIT = 0x80000000;
// 64 KiB blocks, independent, no checksums: what librdkafka (LZ4F defaults + blockIndependent) and the Java
// client write, so every Kafka reader accepts it.
const WRITE_BLOCK_SIZE = 65536;
const WRITE_FLG = 0x60;
const WRITE_BD = 0x40;
const BLOCK_SIZES: Record<number, number> = { 4: 0x10000, 5: 0x40000, 6: 0x100000, 7: 0x400000 };
const HASH_BITS = 14;

function lz4Error(reason: string): Error {
  return hkError(
    "LZ4_FRAME_INVALID",
    `invalid LZ4 frame: ${reason}; the record batch is corrupt or not LZ4-frame compressed`,
  );
}

const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function u32le(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function putU32le(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

function xxhRound(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);
}

/** XXH32, the checksum of the LZ4 frame format (header, blocks, content). */
export function xxh32(data: Uint8Array, seed = 0): number {
  const length = data.length;
  let i = 0;
  let h: number;
  if (length >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    for (; i <= length - 16; i += 16) {
      v1 = xxhRound(v1, u32le(data, i));
      v2 = xxhRound(v2, u32le(data, i + 4));
      v3 = xxhRound(v3, u32le(data, i + 8));
      v4 = xxhRound(v4, u32le(data, i + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + length) | 0;
  for (; i + 4 <= length; i += 4) h = Math.imul(rotl((h + Math.imul(u32le(data, i), P3)) | 0, 17), P4);
  for (; i < length; i++) h = Math.imul(rotl((h + Math.imul(data[i]!, P5)) | 0, 11), P1);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

function headerChecksum(bytes: Uint8Array, from: number, to: number): number {
  return (xxh32(bytes.subarray(from, to)) >>> 8) & 0xff;
}

/** Reads an LZ4 length continuation (runs of 255); returns [length, next index]. */
function readLength(src: Uint8Array, at: number, end: number, base: number): [number, number] {
  let length = base;
  let i = at;
  let byte: number;
  do {
    if (i >= end) throw lz4Error("sequence length runs past the block");
    byte = src[i++]!;
    length += byte;
  } while (byte === 255);
  return [length, i];
}

/**
 * Decodes one LZ4 block from src[start, end) into out at `pos`; matches may reach back to `windowStart`.
 * Returns the new output position.
 */
function decodeBlock(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  pos: number,
  windowStart: number,
): number {
  let i = start;
  let o = pos;
  for (;;) {
    if (i >= end) throw lz4Error("block ends inside a sequence");
    const token = src[i++]!;
    let literals = token >>> 4;
    if (literals === 15) [literals, i] = readLength(src, i, end, 15);
    if (i + literals > end) throw lz4Error("literals run past the block");
    if (o + literals > out.length) throw lz4Error("block decodes to more than its declared size");
    out.set(src.subarray(i, i + literals), o);
    i += literals;
    o += literals;
    if (i === end) return o;
    if (i + 2 > end) throw lz4Error("match offset runs past the block");
    const offset = src[i]! | (src[i + 1]! << 8);
    i += 2;
    if (offset === 0 || o - offset < windowStart) throw lz4Error("match offset points before the data");
    let matchLength = token & 15;
    if (matchLength === 15) [matchLength, i] = readLength(src, i, end, 15);
    matchLength += MIN_MATCH;
    if (o + matchLength > out.length) throw lz4Error("block decodes to more than its declared size");
    if (offset >= matchLength) {
      out.copyWithin(o, o - offset, o - offset + matchLength);
      o += matchLength;
    } else {
      // Overlapping copy repeats the last `offset` bytes; copyWithin would copy the old bytes instead.
      for (let n = 0; n < matchLength; n++, o++) out[o] = out[o - offset]!;
    }
  }
}

function grow(buffer: Uint8Array<ArrayBuffer>, needed: number): Uint8Array<ArrayBuffer> {
  if (needed <= buffer.length) return buffer;
  const bigger = new Uint8Array(Math.max(needed, buffer.length * 2));
  bigger.set(buffer);
  return bigger;
}

/**
 * Decompresses one complete LZ4 frame. Accepts the header checksum both as the spec defines it and as
 * Kafka < 0.10 computed it (over the magic number too, KAFKA-3160), as librdkafka does for old batches.
 */
export function decodeFrame(frame: Uint8Array): Uint8Array {
  if (frame.length < 7 || u32le(frame, 0) !== MAGIC) throw lz4Error("missing magic number 0x184D2204");
  const flg = frame[4]!;
  const bd = frame[5]!;
  if (flg >>> 6 !== 1) throw lz4Error(`unsupported frame version ${flg >>> 6}`);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) throw lz4Error("reserved descriptor bits are set");
  if ((flg & 0x01) !== 0) throw lz4Error("frames with a dictionary ID are not supported");
  const independent = (flg & 0x20) !== 0;
  const blockChecksums = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const maxBlock = BLOCK_SIZES[(bd >>> 4) & 7];
  if (maxBlock === undefined) throw lz4Error(`invalid maximum block size code ${(bd >>> 4) & 7}`);
  let i = 6;
  let contentSize: number | undefined;
  if (hasContentSize) {
    if (frame.length < 15) throw lz4Error("truncated content size");
    contentSize = u32le(frame, 6) + u32le(frame, 10) * 2 ** 32;
    // LZ4 cannot expand input more than ~255-fold: a larger claim is corruption, not a reason to allocate.
    if (contentSize > frame.length * 256) throw lz4Error(`implausible content size ${contentSize}`);
    i = 14;
  }
  if (i >= frame.length) throw lz4Error("truncated header");
  const hc = frame[i]!;
  if (hc !== headerChecksum(frame, 4, i) && hc !== headerChecksum(frame, 0, i)) {
    throw lz4Error("header checksum mismatch");
  }
  i++;
  let out = new Uint8Array(contentSize ?? Math.min(maxBlock, Math.max(64, frame.length * 4)));
  let pos = 0;
  for (;;) {
    if (i + 4 > frame.length) throw lz4Error("truncated block size (no end mark)");
    const word = u32le(frame, i);
    i += 4;
    if (word === 0) break;
    const size = (word & ~UNCOMPRESSED_BIT) >>> 0;
    if (size > maxBlock) throw lz4Error(`block of ${size} bytes exceeds the frame's maximum ${maxBlock}`);
    if (i + size + (blockChecksums ? 4 : 0) > frame.length) throw lz4Error("truncated block");
    if (blockChecksums && xxh32(frame.subarray(i, i + size)) !== u32le(frame, i + size)) {
      throw lz4Error("block checksum mismatch");
    }
    if (contentSize === undefined) out = grow(out, pos + maxBlock);
    // A fixed-size output window bounded to one block keeps a hostile block from growing output unchecked.
    const window = out.subarray(0, contentSize === undefined ? pos + maxBlock : out.length);
    if ((word & UNCOMPRESSED_BIT) !== 0) {
      if (pos + size > window.length) throw lz4Error("frame decodes to more than its declared size");
      window.set(frame.subarray(i, i + size), pos);
      pos += size;
    } else {
      pos = decodeBlock(frame, i, i + size, window, pos, independent ? pos : 0);
    }
    i += size + (blockChecksums ? 4 : 0);
  }
  const content = out.subarray(0, pos);
  if (contentChecksum) {
    if (i + 4 > frame.length) throw lz4Error("truncated content checksum");
    if (xxh32(content) !== u32le(frame, i)) throw lz4Error("content checksum mismatch");
    i += 4;
  }
  if (contentSize !== undefined && pos !== contentSize) {
    throw lz4Error(`decoded ${pos} bytes but the header declares ${contentSize}`);
  }
  if (i !== frame.length) throw lz4Error(`${frame.length - i} unexpected bytes after the frame`);
  return content;
}

function writeLength(out: Uint8Array, at: number, length: number): number {
  let o = at;
  let rest = length;
  for (; rest >= 255; rest -= 255) out[o++] = 255;
  out[o++] = rest;
  return o;
}

function writeSequence(
  out: Uint8Array,
  at: number,
  src: Uint8Array,
  anchor: number,
  literals: number,
  match: { offset: number; length: number } | null,
): number {
  let o = at;
  const tokenAt = o++;
  const extra = match === null ? 0 : match.length - MIN_MATCH;
  out[tokenAt] = (Math.min(literals, 15) << 4) | Math.min(extra, 15);
  if (literals >= 15) o = writeLength(out, o, literals - 15);
  out.set(src.subarray(anchor, anchor + literals), o);
  o += literals;
  if (match === null) return o;
  out[o++] = match.offset & 0xff;
  out[o++] = match.offset >>> 8;
  if (extra >= 15) o = writeLength(out, o, extra - 15);
  return o;
}

/** Greedy single-probe LZ4 block compressor (the reference "fast" strategy); returns bytes written. */
function encodeBlock(src: Uint8Array, out: Uint8Array, at: number): number {
  const n = src.length;
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  let o = at;
  let anchor = 0;
  let i = 0;
  const lastMatchStart = n - MF_LIMIT;
  const matchEndLimit = n - LAST_LITERALS;
  while (i <= lastMatchStart) {
    const sequence = u32le(src, i);
    const slot = Math.imul(sequence, P1) >>> (32 - HASH_BITS);
    const candidate = table[slot]!;
    table[slot] = i;
    if (candidate < 0 || i - candidate > MAX_OFFSET || u32le(src, candidate) !== sequence) {
      // Skip faster through incompressible stretches, as the reference encoder does.
      i += 1 + ((i - anchor) >>> 6);
      continue;
    }
    let length = MIN_MATCH;
    while (i + length < matchEndLimit && src[i + length] === src[candidate + length]) length++;
    o = writeSequence(out, o, src, anchor, i - anchor, { offset: i - candidate, length });
    i += length;
    anchor = i;
  }
  o = writeSequence(out, o, src, anchor, n - anchor, null);
  return o - at;
}

/** Compresses `data` into one LZ4 frame of independent 64 KiB blocks without checksums (as librdkafka does). */
export function encodeFrame(data: Uint8Array): Uint8Array {
  const blocks = Math.ceil(data.length / WRITE_BLOCK_SIZE);
  const bound = 7 + 4 + blocks * 4 + data.length + Math.ceil(data.length / 255) + blocks * 16;
  const out = new Uint8Array(bound);
  putU32le(out, 0, MAGIC);
  out[4] = WRITE_FLG;
  out[5] = WRITE_BD;
  out[6] = headerChecksum(out, 4, 6);
  let o = 7;
  for (let start = 0; start < data.length; start += WRITE_BLOCK_SIZE) {
    const block = data.subarray(start, Math.min(start + WRITE_BLOCK_SIZE, data.length));
    const written = encodeBlock(block, out, o + 4);
    if (written < block.length) {
      putU32le(out, o, written);
      o += 4 + written;
    } else {
      putU32le(out, o, (UNCOMPRESSED_BIT | block.length) >>> 0);
      out.set(block, o + 4);
      o += 4 + block.length;
    }
  }
  putU32le(out, o, 0);
  return out.slice(0, o + 4);
}
