// Finds the `message` element of a BSON archive object while it streams from the store, so that
// /msg/{id}/raw_file/{name} sends the value without holding the object: everything before `message` is skipped
// as it passes, and the value's bytes are passed on as they arrive.
import { hkError } from "../runtime/errors.ts";

export type MessageElement =
  /** The value's bytes (binary of any subtype), exactly `length` of them. */
  | { kind: "binary"; length: number; body: ReadableStream<Uint8Array> }
  /** A tombstone. */
  | { kind: "null" }
  /** Any other BSON type (the original housekeeping layout has a document): the caller decodes the whole object. */
  | { kind: "other"; type: number }
  | { kind: "absent" };

// Sizes of the fixed-width BSON element types; the others are handled in `skipValue`.
const FIXED: Record<number, number> = {
  0x01: 8, // double
  0x06: 0, // undefined
  0x07: 12, // ObjectId
  0x08: 1, // bool
  0x09: 8, // UTC datetime
  0x0a: 0, // null
  0x10: 4, // int32
  0x11: 8, // timestamp
  0x12: 8, // int64
  0x13: 16, // decimal128
  0x7f: 0, // max key
  0xff: 0, // min key
};

function malformed(why: string): Error {
  return hkError("OBJECT_MALFORMED", `stored object is not valid BSON: ${why}; run \`housekeeping verify\``);
}

/** Reads `body` up to the `message` element of the top-level document. */
export async function openMessageElement(body: ReadableStream<Uint8Array>): Promise<MessageElement> {
  const reader = body.getReader();
  let buf: Uint8Array = new Uint8Array(0);
  let consumed = 0;

  async function fill(n: number): Promise<void> {
    while (buf.length < n) {
      const { value, done } = await reader.read();
      if (done) throw malformed("it ends early");
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      buf = joined;
    }
  }
  async function take(n: number): Promise<Uint8Array> {
    await fill(n);
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    consumed += n;
    return out;
  }
  async function int32(): Promise<number> {
    const b = await take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  }
  async function skip(n: number): Promise<void> {
    if (n < 0) throw malformed("negative length");
    while (n > 0) {
      if (buf.length === 0) {
        const { value, done } = await reader.read();
        if (done) throw malformed("it ends early");
        buf = value;
      }
      const step = Math.min(n, buf.length);
      buf = buf.subarray(step);
      consumed += step;
      n -= step;
    }
  }
  async function cstring(): Promise<string> {
    for (let i = 0;; i++) {
      await fill(i + 1);
      if (buf[i] === 0) {
        const name = new TextDecoder().decode(buf.subarray(0, i));
        await take(i + 1);
        return name;
      }
    }
  }
  async function skipValue(type: number): Promise<void> {
    const fixed = FIXED[type];
    if (fixed !== undefined) return await skip(fixed);
    switch (type) {
      case 0x02: // string
      case 0x0d: // JavaScript code
      case 0x0e: // symbol
        return await skip(await int32());
      case 0x03: // document
      case 0x04: // array
      case 0x0f: // code with scope
        return await skip((await int32()) - 4);
      case 0x05: // binary
        return await skip((await int32()) + 1);
      case 0x0b: // regex
        await cstring();
        await cstring();
        return;
      case 0x0c: // DBPointer
        await skip(await int32());
        return await skip(12);
      default:
        throw malformed(`unknown element type 0x${type.toString(16)}`);
    }
  }

  try {
    const total = await int32();
    if (total < 5) throw malformed("document length below 5");
    while (consumed < total - 1) {
      const [type] = await take(1);
      if (type === 0) break;
      const name = await cstring();
      if (name !== "message") {
        await skipValue(type!);
        continue;
      }
      if (type === 0x0a) {
        await reader.cancel();
        return { kind: "null" };
      }
      if (type !== 0x05) {
        await reader.cancel();
        return { kind: "other", type: type! };
      }
      const length = await int32();
      await take(1); // subtype: the value is the bytes whatever it says
      if (length < 0 || consumed + length > total) throw malformed("binary longer than its document");
      return { kind: "binary", length, body: passOn(reader, buf, length) };
    }
    await reader.cancel();
    return { kind: "absent" };
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
}

/** A stream of exactly `length` bytes: `head`, then the reader's chunks, cut at `length`; the rest is cancelled. */
function passOn(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  head: Uint8Array,
  length: number,
): ReadableStream<Uint8Array> {
  let left = length;
  let pending: Uint8Array | null = head.length > 0 ? head : null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left === 0) {
        controller.close();
        await reader.cancel();
        return;
      }
      let chunk = pending;
      pending = null;
      if (chunk === null) {
        const { value, done } = await reader.read();
        if (done) {
          controller.error(malformed("it ends inside the message value"));
          return;
        }
        chunk = value;
      }
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      controller.enqueue(part);
      if (left === 0) {
        controller.close();
        await reader.cancel();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
}
