// The object store as the archiver sees it: a flat key space of immutable byte strings. Backends (S3, a local
// directory) are interchangeable; tests/integration/store_test.ts runs one behaviour suite against each of them.
import { hkError } from "../runtime/errors.ts";

export interface BlobStore {
  /** "s3://bucket" or "file:///abs/dir": for logs, never contains secrets. */
  readonly url: string;
  /** What the index's `bucket` column records: the S3 bucket name, or the directory URL for the fs backend. */
  readonly bucket: string;
  /**
   * Writes `body` under `key`, or fails without leaving a partial object under that key. The backend checks the
   * bytes against `crc32`, the unsigned CRC-32 of `body` (S3: the server does, and keeps it for GETs to check),
   * and fails with STORE_CHECKSUM_MISMATCH when they differ. Writing the same bytes again succeeds (idempotent).
   * `body` may be given as pieces, the object being their concatenation: S3 sends them one after the other, so an
   * object encoded around a record's value (lib/format/record.ts) is never joined into a copy to be written.
   */
  put(key: string, body: Uint8Array | readonly Uint8Array[], crc32: number): Promise<void>;
  /**
   * The object's bytes, or null when there is no object under `key`. `expectedSize`, the size the index records,
   * is for callers that only show or serve the object: S3 then refuses an answer declaring another length before
   * reading it (STORE_ANSWER_INVALID). Callers that judge objects (verify, restore) leave it out, to report a
   * wrong size as such; any answer over the largest object an archive holds is refused all the same.
   */
  get(key: string, expectedSize?: number): Promise<Uint8Array | null>;
  /**
   * The object's bytes as a stream (bounded memory for `serve`), with its size; null when there is no object. The
   * caller must consume or cancel `body`, or the connection behind it stays open.
   */
  getStream(key: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | null>;
  head(key: string): Promise<{ size: number } | null>;
  /** Every key starting with `prefix`, in lexical (UTF-8 byte) order, as S3 lists them. */
  list(prefix?: string): AsyncIterable<{ key: string; size: number }>;
  close(): void;
}

// S3 allows 1024 bytes of UTF-8; the segment rules keep keys mappable onto a file system, so that an archive can
// move between backends without renaming anything.
const MAX_KEY_BYTES = 1024;
const encoder = new TextEncoder();

/** Throws STORE_KEY_INVALID unless `key` is usable by every backend. */
export function checkKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== null) {
    throw hkError("STORE_KEY_INVALID", `object key ${JSON.stringify(key)} is not usable: ${problem}`);
  }
}

function keyProblem(key: string): string | null {
  if (key.length === 0) return "it is empty";
  if (!key.isWellFormed()) return "it contains a lone UTF-16 surrogate";
  if (encoder.encode(key).length > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes of UTF-8`;
  if (key.includes("\0")) return "it contains NUL";
  if (key.includes("\\")) return "it contains a backslash";
  for (const segment of key.split("/")) {
    if (segment === "") return "it has an empty path segment (leading, trailing or doubled '/')";
    if (segment === "." || segment === "..") return `it has a '${segment}' path segment`;
  }
  return null;
}

/** Throws STORE_CHECKSUM_INVALID unless `crc32` is an unsigned 32-bit integer, as lib/format/checksum.ts's crc32 returns. */
export function checkCrc32(crc32: number): void {
  if (!Number.isInteger(crc32) || crc32 < 0 || crc32 > 0xffff_ffff) {
    throw hkError(
      "STORE_CHECKSUM_INVALID",
      `a CRC-32 is an unsigned 32-bit integer, got ${crc32}: pass lib/format/checksum.ts's crc32 of the body`,
    );
  }
}

/** Orders keys as S3 lists them: by their UTF-8 bytes (JS string comparison is by UTF-16 units). */
export function compareKeys(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}
