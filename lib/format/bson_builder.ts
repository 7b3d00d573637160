// BSON written element by element into one growing buffer, for documents of many small records (a listing page of
// 1024 metadata records): no value tree, no sizing pass, no copy at the end. bson_writer.ts stays the writer of
// archive objects (exact sizes known up front, large binaries left in place); both write the same bytes for the
// same elements. A document's length is patched in when it is closed.
import { hkError } from "../runtime/errors.ts";

const TYPE = {
  string: 0x02,
  document: 0x03,
  array: 0x04,
  binary: 0x05,
  bool: 0x08,
  null: 0x0a,
  int32: 0x10,
  int64: 0x12,
} as const;

// BSON lengths are signed int32.
const MAX_BSON_LENGTH = 0x7fffffff;

export interface BsonBuilder {
  /** Starts an embedded document; returns the mark that close() takes. */
  openDocument(name: string): number;
  /** Starts an array: its elements are named "0", "1", ... by the caller. */
  openArray(name: string): number;
  close(mark: number): void;
  string(name: string, text: string): void;
  int32(name: string, value: number): void;
  int64(name: string, value: bigint): void;
  bool(name: string, value: boolean): void;
  null(name: string): void;
  binary(name: string, bytes: Uint8Array, subtype?: number): void;
  /** Closes the root document and returns its bytes (a view of the builder's buffer: the builder is done). */
  finish(): Uint8Array<ArrayBuffer>;
}

function encodeError(name: string, problem: string): Error {
  return hkError("BSON_VALUE_INVALID", `cannot encode ${name} as BSON: ${problem}`);
}

/** A builder of one document; `sizeHint` bytes are allocated first (the buffer doubles as needed). */
export function createBsonBuilder(sizeHint = 4096): BsonBuilder {
  let out: Uint8Array<ArrayBuffer> = new Uint8Array(Math.max(64, sizeHint));
  let view = new DataView(out.buffer);
  let pos = 0;
  const utf8 = new TextEncoder();

  const room = (bytes: number): void => {
    if (pos + bytes <= out.length) return;
    if (pos + bytes > MAX_BSON_LENGTH) {
      throw encodeError("$", `more than the BSON limit of ${MAX_BSON_LENGTH} bytes`);
    }
    let size = out.length * 2;
    while (size < pos + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(out.subarray(0, pos));
    out = grown;
    view = new DataView(out.buffer);
  };

  // ASCII is written a byte per unit (names always are, most values too); anything else through encodeInto,
  // after refusing lone surrogates, which UTF-8 cannot carry (encodeInto would write U+FFFD).
  const putText = (text: string, name: string): void => {
    room(text.length * 3);
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) {
        if (!text.isWellFormed()) throw encodeError(name, "string contains a lone UTF-16 surrogate");
        pos += utf8.encodeInto(text.slice(i), out.subarray(pos)).written;
        return;
      }
      out[pos++] = unit;
    }
  };

  const element = (type: number, name: string): void => {
    if (name.includes("\0")) throw encodeError(name, "element names cannot contain NUL");
    room(2);
    out[pos++] = type;
    putText(name, name);
    room(1);
    out[pos++] = 0;
  };

  // Marks of the documents open, innermost last: close() must close the innermost.
  const marks: number[] = [];
  const open = (): number => {
    room(4);
    marks.push(pos);
    const mark = pos;
    pos += 4;
    return mark;
  };

  const close = (mark: number): void => {
    if (marks.at(-1) !== mark) {
      throw encodeError("$", "close() of a document that is not the innermost open one");
    }
    marks.pop();
    room(1);
    out[pos++] = 0;
    view.setInt32(mark, pos - mark, true);
  };

  const root = open();
  return {
    openDocument(name) {
      element(TYPE.document, name);
      return open();
    },
    openArray(name) {
      element(TYPE.array, name);
      return open();
    },
    close,
    string(name, text) {
      element(TYPE.string, name);
      room(4);
      const start = pos;
      pos += 4;
      putText(text, name);
      room(1);
      out[pos++] = 0;
      view.setInt32(start, pos - start - 4, true);
    },
    int32(name, value) {
      if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
        throw encodeError(name, `${value} is not an int32`);
      }
      element(TYPE.int32, name);
      room(4);
      view.setInt32(pos, value, true);
      pos += 4;
    },
    int64(name, value) {
      if (BigInt.asIntN(64, value) !== value) throw encodeError(name, `${value} is not an int64`);
      element(TYPE.int64, name);
      room(8);
      view.setBigInt64(pos, value, true);
      pos += 8;
    },
    bool(name, value) {
      element(TYPE.bool, name);
      room(1);
      out[pos++] = value ? 1 : 0;
    },
    null(name) {
      element(TYPE.null, name);
    },
    binary(name, bytes, subtype = 0) {
      if (!Number.isInteger(subtype) || subtype < 0 || subtype > 0xff) {
        throw encodeError(name, `${subtype} is not a binary subtype`);
      }
      element(TYPE.binary, name);
      room(5 + bytes.length);
      view.setInt32(pos, bytes.length, true);
      out[pos + 4] = subtype;
      out.set(bytes, pos + 5);
      pos += 5 + bytes.length;
    },
    finish() {
      if (marks.length !== 1) throw encodeError("$", `${marks.length - 1} embedded documents left open`);
      close(root);
      return out.subarray(0, pos);
    },
  };
}
