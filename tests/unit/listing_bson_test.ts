// archive-api's meta=true listing body: serve writes it with its own builder (lib/serve/listing_bson.ts); these are
// the bytes js-bson writes for archive-api's transform_db_record shape (which the conformance suite checks against
// the real archive-api), for rows with every edge a column can have.
import assert from "node:assert/strict";
import { Binary, BSON, Int32, Long } from "bson";
import type { ListingRow } from "../../lib/index/listing.ts";
import { createPrng } from "../../lib/mock/prng.ts";
import { metaDocument } from "../../lib/serve/listing_bson.ts";

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
