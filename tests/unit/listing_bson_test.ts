// archive-api's meta=true listing body: serve writes it with its own builder (lib/serve/listing_bson.ts); these are
// the bytes js-bson writes for archive-api's transform_db_record shape (which the conformance suite checks against
// the real archive-api), for rows with every edge a column can have.
import assert from "node:assert/strict";
import { Binary, BSON, Int32, Long } from "bson";
import type { ListingRow } from "../../lib/index/listing.ts";
import { createPrng } from "../../lib/mock/prng.ts";
import { crc32 } from "../../lib/format/checksum.ts";
import { fullDocument, metaDocument, OPEN_AHEAD } from "../../lib/serve/listing_bson.ts";

// archive-api's body, as js-bson writes it: Python's bson writes an int as int32 when it fits, else int64.
function pyInt(n: bigint | number): Int32 | Long {
  const v = BigInt(n);
  return v >= -(2n ** 31n) && v < 2n ** 31n ? new Int32(Number(v)) : Long.fromBigInt(v);
}

function reference(rows: ListingRow[], next: string | null, prev: string | null): Uint8Array {
  const uuid = (text: string) =>
    new Binary(
      Uint8Array.from(text.replaceAll("-", "").match(/../g)!.map((x) => parseInt(x, 16))),
      Binary.SUBTYPE_UUID,
    );
  return Uint8Array.from(BSON.serialize({
    messages: rows.map((r) => ({
      metadata: { topic: r.topic, timestamp: pyInt(r.timestamp) },
      annotations: {
        con_text_uuid: uuid(r.uuid),
        size: pyInt(r.size),
        crc32: pyInt(r.crc32),
        public: r.public,
        con_message_crc32: r.public,
        title: r.title,
        sender: r.sender,
        media_type: r.mediaType,
        file_name: r.fileName,
        originator: r.originator,
        retracted: r.retracted,
      },
    })),
    next,
    prev,
  }));
}

const EDGES = [
  0n,
  -1n,
  1n,
  2n ** 31n - 1n,
  2n ** 31n,
  -(2n ** 31n),
  -(2n ** 31n) - 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
];

Deno.test("meta=true pages: byte for byte what js-bson writes for archive-api's record shape", () => {
  const prng = createPrng(23);
  const pick = <T>(xs: readonly T[]): T => xs[prng.int(xs.length)]!;
  const texts = [
    "",
    "GRB 250101A",
    "é ü",
    "鍵",
    "🔑 emoji",
    "a".repeat(1024),
    "tab\there",
    "'quoted' \"too\"",
  ];
  const hex = () => prng.int(2 ** 16).toString(16).padStart(4, "0");
  for (let round = 0; round < 25; round++) {
    const rows: ListingRow[] = Array.from(
      { length: round === 0 ? 0 : round === 1 ? 1024 : prng.int(80) },
      (_, i) => ({
        id: BigInt(i + 1),
        topic: pick(["gcn.circular", "t", "a".repeat(249)]),
        timestamp: prng.int(3) === 0 ? pick(EDGES) : 1_700_000_000_000n + BigInt(prng.int(2 ** 30)),
        uuid: `${hex()}${hex()}-${hex()}-${hex()}-${hex()}-${hex()}${hex()}${hex()}`,
        size: pick([0, 1, 400, 2 ** 31 - 1]),
        crc32: pick([0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n]),
        public: prng.int(2) === 1,
        title: pick(texts),
        sender: pick(texts),
        mediaType: pick(["", "application/json", "application/x.gcn.circular"]),
        fileName: pick(texts),
        originator: pick(texts),
        retracted: prng.int(2) === 1,
        format: pick([null, "json"]),
        valueSize: pick([null, 100]),
      }),
    );
    const next = pick([null, ">i:1796534782731~i:2"]);
    const prev = pick([null, "<i:-9223372036854775808~i:9223372036854775807"]);
    assert.deepEqual(metaDocument(rows, next, prev), reference(rows, next, prev), `round ${round}`);
  }
});

// Full pages (issue 23): objects are opened several at a time but written in page order. A store whose opens
// finish in shuffled order, whose objects come in small pieces, and which records every stream it hands out.
function fakeStore(objects: (Uint8Array | null | "throws")[], seed: number) {
  const prng = createPrng(seed);
  let inFlight = 0;
  const seen = { maxOpen: 0, opened: 0, cancelled: 0, finished: 0 };
  const open = async (row: ListingRow): Promise<ReadableStream<Uint8Array> | null> => {
    const object = objects[Number(row.id)]!;
    inFlight++;
    seen.maxOpen = Math.max(seen.maxOpen, inFlight);
    await new Promise((r) => setTimeout(r, prng.int(4)));
    if (object === "throws") {
      inFlight--;
      throw new Error("the store failed");
    }
    if (object === null) {
      inFlight--;
      return null;
    }
    seen.opened++;
    let at = 0;
    // A stream may be closed with chunks still queued and then cancelled: it ends once.
    let ended = false;
    const end = (how: "finished" | "cancelled") => {
      if (ended) return;
      ended = true;
      inFlight--;
      seen[how]++;
    };
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const n = Math.min(object.length - at, 1 + prng.int(700));
        if (n > 0) controller.enqueue(object.slice(at, at + n));
        at += n;
        if (at === object.length) {
          end("finished");
          controller.close();
        }
      },
      cancel: () => end("cancelled"),
    });
  };
  return { open, seen };
}

function pageOf(objects: (Uint8Array | null | "throws")[]): ListingRow[] {
  return objects.map((o, i) => ({
    id: BigInt(i),
    topic: "t",
    timestamp: BigInt(i),
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    size: o instanceof Uint8Array ? o.length : 10,
    crc32: o instanceof Uint8Array ? BigInt(crc32(o)) : 0n,
    public: true,
    title: "",
    sender: "",
    mediaType: "",
    fileName: "",
    originator: "",
    retracted: false,
    format: null,
    valueSize: null,
  }));
}

/** The body's bytes until it ends or fails, and how it failed. */
async function drain(body: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; error: string | null }> {
  const parts: Uint8Array[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
  } catch (e) {
    return { bytes: Uint8Array.from(parts.flatMap((p) => [...p])), error: (e as Error).message };
  }
  return { bytes: Uint8Array.from(parts.flatMap((p) => [...p])), error: null };
}

function bsonObject(i: number, size: number): Uint8Array {
  return Uint8Array.from(BSON.serialize({ i, pad: "x".repeat(size) }));
}

Deno.test("full pages: opened ahead, written byte for byte as one by one, nothing left open", async () => {
  const objects = Array.from({ length: 64 }, (_, i) => bsonObject(i, [0, 10, 1024, 5000][i % 4]!));
  const rows = pageOf(objects);
  const run = async (ahead: number) => {
    const store = fakeStore(objects, 7);
    const doc = fullDocument(rows, ">i:1~i:2", null, store.open, () => assert.fail("no mismatch"), ahead);
    const out = await drain(doc.body);
    assert.equal(out.error, null);
    assert.equal(out.bytes.length, doc.length);
    return { bytes: out.bytes, seen: store.seen };
  };
  const oneByOne = await run(1);
  const ahead = await run(OPEN_AHEAD);
  assert.deepEqual(ahead.bytes, oneByOne.bytes);
  assert.deepEqual(BSON.deserialize(ahead.bytes).messages[63], { i: 63, pad: "x".repeat(5000) });
  assert.equal(oneByOne.seen.maxOpen, 1);
  // Several in flight, never more than the window: memory is bounded by it, not by the page.
  assert.ok(ahead.seen.maxOpen > 1 && ahead.seen.maxOpen <= OPEN_AHEAD, `max open ${ahead.seen.maxOpen}`);
  assert.deepEqual(ahead.seen, { ...ahead.seen, opened: 64, finished: 64, cancelled: 0 });
});

Deno.test("full pages: a failing object mid-page cuts the body where one by one would, and frees the rest", async () => {
  const good = Array.from({ length: 40 }, (_, i) => bsonObject(i, 300));
  const corrupt = good[20]!.slice();
  corrupt[10] = corrupt[10]! ^ 1;
  const cases: [string, (Uint8Array | null | "throws")[], (Uint8Array | null | "throws")[]][] = [
    ["missing", good.map((o, i) => i === 20 ? null : o), good],
    ["store error", good.map((o, i) => i === 20 ? "throws" : o), good],
    ["CRC-32", good.map((o, i) => i === 20 ? corrupt : o), good],
    ["too long", good.map((o, i) => i === 20 ? Uint8Array.of(...o, 0) : o), good],
  ];
  for (const [what, stored, indexed] of cases) {
    const rows = pageOf(indexed);
    const run = async (ahead: number) => {
      const store = fakeStore(stored, 11);
      const mismatches: string[] = [];
      const doc = fullDocument(rows, null, null, store.open, (row) => mismatches.push(row.uuid), ahead);
      const out = await drain(doc.body);
      // Opens still under way when the body failed are cancelled as they land.
      await new Promise((r) => setTimeout(r, 20));
      return { ...out, mismatches, seen: store.seen };
    };
    const oneByOne = await run(1);
    const ahead = await run(OPEN_AHEAD);
    assert.notEqual(ahead.error, null, what);
    assert.equal(ahead.error, oneByOne.error, what);
    assert.deepEqual(ahead.bytes, oneByOne.bytes, what);
    assert.deepEqual(ahead.mismatches, oneByOne.mismatches, what);
    assert.ok(ahead.seen.opened > 21, `${what}: opened ahead (${ahead.seen.opened})`);
    assert.equal(
      ahead.seen.opened,
      ahead.seen.finished + ahead.seen.cancelled,
      `${what}: every stream ended`,
    );
  }
});

Deno.test("full pages: a client that goes away cancels the object being written and those opened ahead", async () => {
  const objects = Array.from({ length: 64 }, (_, i) => bsonObject(i, 2000));
  const store = fakeStore(objects, 3);
  const doc = fullDocument(pageOf(objects), null, null, store.open, () => assert.fail("no mismatch"));
  const reader = doc.body.getReader();
  for (let i = 0; i < 30; i++) await reader.read();
  await reader.cancel("client gone");
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(store.seen.opened > 1);
  assert.equal(store.seen.opened, store.seen.finished + store.seen.cancelled);
  assert.ok(store.seen.cancelled > 1, `cancelled ${store.seen.cancelled}`);
});
