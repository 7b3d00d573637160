// Checksums over record bytes. Backed by node:zlib and node:crypto so that multi-MiB values are hashed
// by native code rather than a JS loop.
import { crc32 as zlibCrc32 } from "node:zlib";
import { createHash } from "node:crypto";

/**
 * Unsigned IEEE CRC-32 of the concatenation of `chunks`, identical to Python's `zlib.crc32` (what the original
 * archive stored).
 */
export function crc32(...chunks: Uint8Array[]): number {
  let crc = 0;
  for (const chunk of chunks) crc = zlibCrc32(chunk, crc);
  // zlib's binding already returns an unsigned value; `>>> 0` pins that down should it ever change.
  return crc >>> 0;
}

// Chunks shorter than this are gathered into one update: each update is a call into native code, and a record's
// content digest is two dozen small chunks (length prefixes, header names and values) around its value.
const GATHER_BELOW = 1024;
const scratch = new Uint8Array(16 * 1024);

function digest(algorithm: "sha1" | "sha256", chunks: readonly Uint8Array[]): Uint8Array {
  const hash = createHash(algorithm);
  let gathered = 0;
  for (const chunk of chunks) {
    if (chunk.length >= GATHER_BELOW) {
      if (gathered > 0) hash.update(scratch.subarray(0, gathered));
      gathered = 0;
      hash.update(chunk);
      continue;
    }
    if (gathered + chunk.length > scratch.length) {
      hash.update(scratch.subarray(0, gathered));
      gathered = 0;
    }
    scratch.set(chunk, gathered);
    gathered += chunk.length;
  }
  if (gathered > 0) hash.update(scratch.subarray(0, gathered));
  // A plain Uint8Array (not a Buffer) so callers can compare results with deepStrictEqual.
  return Uint8Array.from(hash.digest());
}

/** An incremental SHA-256 for an encoding of many small fields around a few large ones. */
export interface FieldHash {
  /** Appends `bytes`. */
  bytes(bytes: Uint8Array): void;
  /** Appends one byte. */
  byte(value: number): void;
  /** Appends `n` (0 <= n < 2^53) as 8 bytes, big-endian. */
  u64(n: number): void;
  /** The SHA-256 of everything appended; the hash is finished. */
  digest(): Uint8Array;
}

// The fields gathered before each update. One hash is built at a time (digest() ends it before anything else
// runs), so one buffer serves them all.
const fieldScratch = new Uint8Array(16 * 1024);
const fieldView = new DataView(fieldScratch.buffer);

/**
 * SHA-256 over fields appended one by one: small ones gathered into one update, as `digest` does for chunks, but
 * without an array of chunks or a fresh array per length prefix.
 */
export function sha256Fields(): FieldHash {
  const hash = createHash("sha256");
  let gathered = 0;
  const flush = () => {
    if (gathered > 0) hash.update(fieldScratch.subarray(0, gathered));
    gathered = 0;
  };
  const room = (n: number) => {
    if (gathered + n > fieldScratch.length) flush();
  };
  return {
    bytes(bytes) {
      if (bytes.length >= GATHER_BELOW) {
        flush();
        hash.update(bytes);
        return;
      }
      room(bytes.length);
      fieldScratch.set(bytes, gathered);
      gathered += bytes.length;
    },
    byte(value) {
      room(1);
      fieldScratch[gathered++] = value;
    },
    u64(n) {
      room(8);
      fieldView.setUint32(gathered, Math.floor(n / 2 ** 32));
      fieldView.setUint32(gathered + 4, n >>> 0);
      gathered += 8;
    },
    digest() {
      flush();
      return Uint8Array.from(hash.digest());
    },
  };
}

/** SHA-256 of the concatenation of `chunks`, without building the concatenation. */
export function sha256(...chunks: Uint8Array[]): Uint8Array {
  return digest("sha256", chunks);
}

/** sha256 of a list of any length: spreading 100 000s of chunks into a call overflows the stack. */
export function sha256Of(chunks: readonly Uint8Array[]): Uint8Array {
  return digest("sha256", chunks);
}

/** SHA-1 of the concatenation of `chunks`; only for name-based (v5) UUIDs, which RFC 9562 defines on SHA-1. */
export function sha1(...chunks: Uint8Array[]): Uint8Array {
  return digest("sha1", chunks);
}

/** Lowercase hex text of `bytes`. */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Lowercase hex SHA-256 of the concatenation of `chunks`. */
export function sha256Hex(...chunks: Uint8Array[]): string {
  return hex(sha256(...chunks));
}
