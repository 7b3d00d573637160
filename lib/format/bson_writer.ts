// A minimal BSON writer for documents whose shape the caller spells out element by element.
// js-bson's serialize() infers types from JS values (a small number becomes int32, a large one a double)
// and copies through a module-wide scratch buffer that rejects documents over 17 MiB unless it is grown
// for good. Archive objects need explicit int64s, exact byte layout and any size, so they are written here:
// one sizing pass, one allocation, one writing pass.
import { hkError } from "../runtime/errors.ts";

export type BsonValue =
  | { readonly type: "binary"; readonly bytes: Uint8Array }
  | { readonly type: "string"; readonly text: string }
  | { readonly type: "int32"; readonly value: number }
  | { readonly type: "int64"; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "null" }
  | { readonly type: "document"; readonly fields: readonly BsonField[] }
  | { readonly type: "array"; readonly items: readonly BsonValue[] };

export type BsonField = readonly [name: string, value: BsonValue];

export const bsonBinary = (bytes: Uint8Array): BsonValue => ({ type: "binary", bytes });
export const bsonString = (text: string): BsonValue => ({ type: "string", text });
export const bsonInt32 = (value: number): BsonValue => ({ type: "int32", value });
export const bsonInt64 = (value: bigint): BsonValue => ({ type: "int64", value });
export const bsonBool = (value: boolean): BsonValue => ({ type: "bool", value });
export const bsonNull: BsonValue = { type: "null" };
export const bsonDocument = (fields: readonly BsonField[]): BsonValue => ({ type: "document", fields });
export const bsonArray = (items: readonly BsonValue[]): BsonValue => ({ type: "array", items });

const TYPE_BYTE = {
  binary: 0x05,
  string: 0x02,
  int32: 0x10,
  int64: 0x12,
  bool: 0x08,
  null: 0x0a,
  document: 0x03,
  array: 0x04,
} as const;

// BSON lengths are signed int32.
const MAX_BSON_LENGTH = 0x7fffffff;

function encodeError(path: string, problem: string): Error {
  return hkError("BSON_VALUE_INVALID", `cannot encode ${path} as BSON: ${problem}`);
}

/** UTF-8 length of a string; rejects lone surrogates, which UTF-8 cannot carry (they would become U+FFFD). */
function utf8Length(text: string, path: string): number {
  if (!text.isWellFormed()) throw encodeError(path, "string contains a lone UTF-16 surrogate");
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A surrogate pair is 4 bytes in UTF-8: 2 for each of its two halves.
    length += unit < 0x80 ? 1 : unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff) ? 2 : 3;
  }
  return length;
}

function elements(value: BsonValue & { type: "document" | "array" }): readonly BsonField[] {
  return value.type === "document" ? value.fields : value.items.map((item, i) => [String(i), item]);
}

function nameLength(name: string, path: string): number {
  if (name.includes("\0")) throw encodeError(path, "element names cannot contain NUL");
  return utf8Length(name, path);
}

/** Bytes of a value after its type byte and name; validates everything the writing pass relies on. */
function payloadSize(value: BsonValue, path: string): number {
  switch (value.type) {
    case "binary":
      return 5 + value.bytes.length;
    case "string":
      return 5 + utf8Length(value.text, path);
    case "int32":
      if (!Number.isInteger(value.value) || value.value < -0x80000000 || value.value > 0x7fffffff) {
        throw encodeError(path, `${value.value} is not an int32`);
      }
      return 4;
    case "int64":
      if (BigInt.asIntN(64, value.value) !== value.value) {
        throw encodeError(path, `${value.value} is not an int64`);
      }
      return 8;
    case "bool":
      return 1;
    case "null":
      return 0;
    case "document":
    case "array": {
      let size = 5;
      for (const [name, item] of elements(value)) {
        const itemPath = `${path}.${name}`;
        size += 2 + nameLength(name, itemPath) + payloadSize(item, itemPath);
      }
      return size;
    }
  }
}

/** Bytes of binary payloads of at least `viewFrom` bytes anywhere in `value`: what encodeBsonPieces leaves in place. */
function viewedBytes(value: BsonValue, viewFrom: number): number {
  switch (value.type) {
    case "binary":
      return value.bytes.length >= viewFrom ? value.bytes.length : 0;
    case "document":
      return value.fields.reduce((n, [, item]) => n + viewedBytes(item, viewFrom), 0);
    case "array":
      return value.items.reduce((n, item) => n + viewedBytes(item, viewFrom), 0);
    default:
      return 0;
  }
}

/** The BSON bytes of a document with exactly these fields, in this order. */
export function encodeBson(fields: readonly BsonField[]): Uint8Array {
  return encodeBsonPieces(fields, Infinity)[0]!;
}

/**
 * The same bytes as encodeBson, as pieces whose concatenation is the document: every binary payload of at least
 * `viewFrom` bytes is a piece of its own, the caller's bytes themselves rather than a copy. Checksums and sizes of a
 * document with a large value can so be had without copying the value; the caller must not change those bytes
 * while it uses the pieces.
 */
export function encodeBsonPieces(fields: readonly BsonField[], viewFrom: number): Uint8Array[] {
  const root = bsonDocument(fields);
  const size = payloadSize(root, "$");
  if (size > MAX_BSON_LENGTH) {
    throw encodeError("$", `${size} bytes exceeds the BSON limit of ${MAX_BSON_LENGTH}`);
  }
  // Zero-length payloads are written inline: a piece of its own would only be an empty array.
  const from = Math.max(1, viewFrom);
  const out = new Uint8Array(size - viewedBytes(root, from));
  const view = new DataView(out.buffer);
  const utf8 = new TextEncoder();
  const pieces: Uint8Array[] = [];
  let pos = 0;
  // Bytes emitted as views so far: document lengths count them, positions in `out` do not.
  let viewed = 0;
  let pieceStart = 0;

  const putText = (text: string): void => {
    pos += utf8.encodeInto(text, out.subarray(pos)).written;
  };
  const putValue = (value: BsonValue): void => {
    switch (value.type) {
      case "binary":
        view.setInt32(pos, value.bytes.length, true);
        out[pos + 4] = 0; // subtype 0, generic binary: the only one archive readers expect
        pos += 5;
        if (value.bytes.length >= from) {
          pieces.push(out.subarray(pieceStart, pos), value.bytes);
          pieceStart = pos;
          viewed += value.bytes.length;
        } else {
          out.set(value.bytes, pos);
          pos += value.bytes.length;
        }
        return;
      case "string": {
        const start = pos;
        pos += 4;
        putText(value.text);
        out[pos++] = 0;
        view.setInt32(start, pos - start - 4, true);
        return;
      }
      case "int32":
        view.setInt32(pos, value.value, true);
        pos += 4;
        return;
      case "int64":
        view.setBigInt64(pos, value.value, true);
        pos += 8;
        return;
      case "bool":
        out[pos++] = value.value ? 1 : 0;
        return;
      case "null":
        return;
      case "document":
      case "array": {
        const start = pos;
        const viewedBefore = viewed;
        pos += 4;
        for (const [name, item] of elements(value)) {
          out[pos++] = TYPE_BYTE[item.type];
          putText(name);
          out[pos++] = 0;
          putValue(item);
        }
        out[pos++] = 0;
        view.setInt32(start, pos - start + (viewed - viewedBefore), true);
        return;
      }
    }
  };
  putValue(root);
  if (pieceStart < pos || pieces.length === 0) pieces.push(out.subarray(pieceStart, pos));
  return pieces;
}
