// The bodies of archive-api's listings, in its BSON shapes. With meta=true: {messages: [{metadata: {topic,
// timestamp}, annotations: {...}}], next, prev}, built in memory (at most 1024 small records). Otherwise
// {next, prev, messages: [object, ...]} where each element is a stored object exactly as stored, streamed one after
// the other from the store: the document's length is known from the index sizes, so nothing is held whole, and
// each object is checked against the index (length, CRC-32) as it passes; a mismatch aborts the response.
import { crc32 as zlibCrc32 } from "node:zlib";
import { Int32, Long } from "bson";
import { type BsonBuilder, createBsonBuilder } from "../format/bson_builder.ts";
import { uuidBytes } from "../format/identity.ts";
import type { ListingRow } from "../index/listing.ts";
import { concat } from "../runtime/bytes.ts";

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

/** Python's bson package writes an int as int32 when it fits, else int64: so does this. */
export function pyInt(n: bigint | number): Int32 | Long {
  const v = BigInt(n);
  return v >= INT32_MIN && v <= INT32_MAX ? new Int32(Number(v)) : Long.fromBigInt(v);
}

/** pyInt's rule, written straight into a document. */
function putPyInt(b: BsonBuilder, name: string, n: bigint | number): void {
  if (typeof n === "number" ? n >= -0x80000000 && n <= 0x7fffffff : n >= INT32_MIN && n <= INT32_MAX) {
    b.int32(name, Number(n));
  } else b.int64(name, BigInt(n));
}

const BINARY_UUID = 4;
// Bytes of one metadata record beyond its texts: the first buffer holds a whole page of typical records.
const META_RECORD_BYTES = 220;

/**
 * The meta=true listing document, {messages: [...], next, prev}, with each record as archive-api's
 * transform_db_record writes it, field for field (its con_message_crc32 holds the public flag: kept), in the bytes
 * Python's bson (and js-bson) write for it. Written in one pass into one buffer: a page is 1024 records.
 */
export function metaDocument(
  rows: ListingRow[],
  next: string | null,
  prev: string | null,
): Uint8Array {
  const b = createBsonBuilder(64 + rows.length * META_RECORD_BYTES);
  const messages = b.openArray("messages");
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const record = b.openDocument(String(i));
    const metadata = b.openDocument("metadata");
    b.string("topic", row.topic);
    putPyInt(b, "timestamp", row.timestamp);
    b.close(metadata);
    const annotations = b.openDocument("annotations");
    b.binary("con_text_uuid", uuidBytes(row.uuid), BINARY_UUID);
    putPyInt(b, "size", row.size);
    putPyInt(b, "crc32", row.crc32);
    b.bool("public", row.public);
    b.bool("con_message_crc32", row.public);
    b.string("title", row.title);
    b.string("sender", row.sender);
    b.string("media_type", row.mediaType);
    b.string("file_name", row.fileName);
    b.string("originator", row.originator);
    b.bool("retracted", row.retracted);
    b.close(annotations);
    b.close(record);
  }
  b.close(messages);
  for (const [name, mark] of [["next", next], ["prev", prev]] as const) {
    if (mark === null) b.null(name);
    else b.string(name, mark);
  }
  return b.finish();
}

const enc = new TextEncoder();

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
}

function markElement(name: string, mark: string | null): Uint8Array {
  if (mark === null) return concat([Uint8Array.of(0x0a), enc.encode(name), Uint8Array.of(0)]);
  const text = enc.encode(mark);
  return concat([
    Uint8Array.of(0x02),
    enc.encode(name),
    Uint8Array.of(0),
    int32(text.length + 1),
    text,
    Uint8Array.of(0),
  ]);
}

export type OpenObject<R extends ListingRow> = (row: R) => Promise<ReadableStream<Uint8Array> | null>;

/**
 * Objects opened at once for one full page (the one being written and those after it). A page is 64 objects and
 * each GET waits a round trip to the store for its head: opened one after another, those waits were most of a
 * page's time (issue 23). An opened object holds only its connection's buffers until it is read, so memory stays
 * bounded by this window, not by the page.
 */
export const OPEN_AHEAD = 12;

/**
 * The full listing document and its length. Element names are the array indexes BSON specifies ("0", "1", ...;
 * archive-api names every element "0", which decoders read the same). Objects are opened up to `ahead` at a time
 * but written in page order; an object's failure is reported when its turn comes, as if read one by one.
 */
export function fullDocument<R extends ListingRow>(
  rows: R[],
  next: string | null,
  prev: string | null,
  open: OpenObject<R>,
  onMismatch: (row: R, why: string) => void,
  ahead = OPEN_AHEAD,
): { length: number; body: ReadableStream<Uint8Array> } {
  const names = rows.map((_, i) => enc.encode(String(i)));
  const arraySize = 5 + rows.reduce((n, row, i) => n + 2 + names[i]!.length + row.size, 0);
  const marks = concat([markElement("next", next), markElement("prev", prev)]);
  const length = 4 + marks.length + 1 + 9 + arraySize + 1;
  const head = concat([
    int32(length),
    marks,
    Uint8Array.of(0x04),
    enc.encode("messages\0"),
    int32(arraySize),
  ]);
  const opens = createOpenWindow(rows, open, Math.max(1, ahead));
  let index = 0;
  let current: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let seen = { size: 0, crc: 0 };
  let headSent = false;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, message: string) => {
    opens.abandon();
    controller.error(new Error(message));
  };
  return {
    length,
    body: new ReadableStream<Uint8Array>({
      // Each call enqueues something, closes or errors: a pull that enqueues nothing is not called again.
      async pull(controller) {
        if (!headSent) {
          headSent = true;
          opens.fill(0);
          controller.enqueue(head);
          return;
        }
        try {
          await step(controller);
        } catch (e) {
          // An object that failed to open or to read ends the answer: the others opened ahead are let go.
          opens.abandon();
          throw e;
        }
      },
      async cancel(reason) {
        opens.abandon();
        await current?.cancel(reason);
      },
    }),
  };

  async function step(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      if (current === null) {
        if (index === rows.length) {
          controller.enqueue(Uint8Array.of(0, 0));
          controller.close();
          return;
        }
        const row = rows[index]!;
        const object = await opens.take(index);
        if (opens.abandoned()) {
          // The client went away while this object opened: cancel cleared the window, this one is ours to free.
          await object?.cancel().catch(() => {});
          return;
        }
        if (object === null) {
          onMismatch(row, "object missing from the store");
          return fail(controller, `object of ${row.uuid} missing from the store`);
        }
        current = object.getReader();
        seen = { size: 0, crc: 0 };
        controller.enqueue(concat([Uint8Array.of(0x03), names[index]!, Uint8Array.of(0)]));
        return;
      }
      const row = rows[index]!;
      const { done, value } = await current.read();
      // Cancelled while reading (the client went away): the cut-short object is no mismatch to report.
      if (opens.abandoned()) return;
      if (!done) {
        seen.size += value.length;
        seen.crc = zlibCrc32(value, seen.crc);
        if (seen.size > row.size) {
          onMismatch(row, `more than ${row.size} bytes`);
          await current.cancel();
          return fail(controller, `object of ${row.uuid} is longer than the index says`);
        }
        controller.enqueue(value);
        return;
      }
      current = null;
      index++;
      opens.fill(index);
      const why = seen.size !== row.size
        ? `${seen.size} bytes instead of ${row.size}`
        : BigInt(seen.crc >>> 0) !== row.crc32
        ? "CRC-32 differs from the index"
        : null;
      if (why !== null) {
        onMismatch(row, why);
        return fail(controller, `stored bytes of ${row.uuid} failed their check: ${why}`);
      }
    }
  }
}

/**
 * The opens of a page's objects, at most `ahead` from the one being written: started in page order, taken in page
 * order. Once abandoned (the answer ended early), what was opened and not taken is cancelled, even if it opens
 * later, so no store connection stays taken.
 */
function createOpenWindow<R extends ListingRow>(rows: R[], open: OpenObject<R>, ahead: number) {
  const pending = new Map<number, Promise<ReadableStream<Uint8Array> | null>>();
  let started = 0;
  let abandoned = false;
  const release = (p: Promise<ReadableStream<Uint8Array> | null>) =>
    p.then((s) => s?.cancel().catch(() => {}), () => {});
  return {
    /** Opens up to `ahead` objects from `from` on. */
    fill(from: number): void {
      while (!abandoned && started < rows.length && started < from + ahead) {
        const p = open(rows[started]!);
        // A failure is reported when its turn comes (take), or never if the answer ends first.
        p.catch(() => {});
        pending.set(started++, p);
      }
    },
    /** The object at `i`: opened now if it was not yet. */
    take(i: number): Promise<ReadableStream<Uint8Array> | null> {
      if (!pending.has(i)) this.fill(i);
      const p = pending.get(i) ?? open(rows[i]!);
      pending.delete(i);
      return p;
    },
    abandoned: () => abandoned,
    abandon(): void {
      abandoned = true;
      for (const p of pending.values()) release(p);
      pending.clear();
    },
  };
}
