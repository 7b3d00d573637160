// A record with 50 000 headers through the whole archive path: produced by librdkafka (hop-client's client) to the
// real broker, archived by the real `archive` command, read back with our codec and hop-client's, then restored by
// the real `restore` command and read back with librdkafka. kafkajs used to fold a record's headers quadratically:
// 20 000 of them outlasted the consumer's session, so the archiver lost its group and decoded the same batch
// again, forever (issue 21). The linearity itself is proved without a clock in tests/unit/kafka_headers_test.ts;
// this is the end-to-end proof that such a record is archived and restored byte-exact.
import assert from "node:assert/strict";
import { uuidText } from "../../lib/format/identity.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
import { openStore } from "../../lib/store/open.ts";
import {
  type ArchiveScenario,
  peerProduce,
  type PeerRecord,
  runMain,
  schemaSql,
  spawnLogged,
  withArchiveScenario,
} from "../support/archive_helpers.ts";
import { runPython, serviceEnv } from "../support/helpers.ts";

const enc = new TextEncoder();
const HEADERS = 50_000;
const CODECS = ["none", "zstd"];
// A backstop, not a measurement: before the fix the archiver never got past the record (it took minutes per
// decode and lost its group meanwhile), and the test must fail then rather than hang. It is far above what the
// run takes (seconds), so a slow machine cannot fail it.
const BACKSTOP_S = 900;

type Header = [string, Uint8Array | null];
/** Records sent, by topic, in offset order. */
type Sent = Map<string, PeerRecord[]>;

/** `_id` first, then mostly distinct keys, one key repeated throughout, nulls, empties and "__proto__". */
function manyHeaders(id: Uint8Array): Header[] {
  const headers: Header[] = [["_id", id]];
  for (let i = 1; i < HEADERS; i++) {
    const key = i % 5000 === 1 ? "__proto__" : i % 10 === 0 ? "dup" : `h${i}`;
    headers.push([key, i % 7 === 0 ? null : i % 11 === 0 ? new Uint8Array(0) : enc.encode(String(i))]);
  }
  return headers;
}

const plain = (headers: Header[]) => headers.map(([k, v]) => [k, v === null ? null : [...v]]);
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function archivedRows(schema: string) {
  const sql = schemaSql(schema);
  try {
    return await sql<{ topic: string; offset: bigint; key: string; uuid: string; is_client_uuid: boolean }[]>`
      SELECT topic, "offset", key, uuid, is_client_uuid FROM messages ORDER BY topic, "offset"`;
  } finally {
    await sql.end();
  }
}

/** hop-client's own codec reading the headers of an archived object. */
async function hopClientHeaders(object: Uint8Array, dir: string): Promise<Header[]> {
  const file = await Deno.makeTempFile({ dir, suffix: ".bson" });
  await Deno.writeFile(file, object);
  const [view] = JSON.parse(await runPython("read_archive.py", [file])) as {
    metadata: { headers: [string, { b64: string } | null][] };
  }[];
  return view!.metadata.headers.map(([k, v]) => [k, v === null ? null : unb64(v.b64)]);
}

async function checkArchived(s: ArchiveScenario, sent: Sent): Promise<void> {
  const rows = await archivedRows(s.schema);
  assert.equal(rows.length, 2 * CODECS.length, "every record archived once");
  const store = await openStore(s.storeUrl, { endpoint: serviceEnv("S3_ENDPOINT") });
  try {
    for (const row of rows) {
      const record = sent.get(row.topic)![Number(row.offset)]!;
      const object = (await store.get(row.key))!;
      const decoded = decodeArchiveObject(object);
      assert.deepEqual(decoded.value, record.value, `value of ${row.key}`);
      const headers: Header[] = decoded.headers.map((h) => [h.key, h.value]);
      assert.deepEqual(plain(headers), plain(record.headers!), `headers of ${row.key}`);
      if (row.offset !== 0n) continue;
      assert.equal(row.uuid, uuidText(record.headers![0]![1]!), "the _id header is the record's UUID");
      assert.equal(row.is_client_uuid, true);
      const hop = await hopClientHeaders(object, s.dir);
      assert.deepEqual(plain(hop), plain(record.headers!), `hop-client's headers of ${row.key}`);
    }
  } finally {
    store.close();
  }
}

/**
 * restore re-publishes through kafkajs's producer with our encoder (lib/kafka/produce_encoder.ts); librdkafka
 * reads the restored topic back. (--allow-loop: the target is under the test's prefix, for its clean-up, and no
 * archiver runs any more.)
 */
async function checkRestored(s: ArchiveScenario, sent: Sent): Promise<void> {
  const [source, target] = [s.topic("none"), s.topic("restored")];
  const rename = ["--topic", source, "--rename", `${source}=${target}`, "--create-topics"];
  const restore = await runMain(
    ["restore", ...s.flags.slice(2), ...rename, "--progress", "none", "--allow-loop"],
    s.env,
  );
  assert.equal(restore.code, 0, restore.stderr);
  const out = await runPython("peer_consume.py", [serviceEnv("KAFKA_BROKERS"), target, "2"]);
  const restored = JSON.parse(out) as { value: string; headers: [string, string | null][] }[];
  assert.equal(restored.length, 2);
  restored.forEach((r, i) => {
    const original = sent.get(source)![i]!;
    assert.deepEqual(unb64(r.value), original.value, `restored value of record ${i}`);
    const headers: Header[] = r.headers.map(([k, v]) => [k, v === null ? null : unb64(v)]);
    assert.deepEqual(plain(headers), plain(original.headers!), `restored headers of record ${i}`);
  });
}

Deno.test("archive, restore: a record with 50 000 headers, byte-exact, headers in order with duplicates and nulls", async () => {
  await withArchiveScenario("arch-headers", { topics: CODECS, backend: "s3" }, async (s) => {
    const sent: Sent = new Map();
    for (const codec of CODECS) {
      // The big record and an ordinary one after it, in one batch: the batch must be committed past both.
      const records: PeerRecord[] = [
        {
          value: enc.encode(`many headers ${codec}`),
          headers: manyHeaders(crypto.getRandomValues(new Uint8Array(16))),
        },
        { value: enc.encode("after"), headers: [["_sender", enc.encode("alice")]] },
      ];
      await peerProduce(s.topic(codec), records, codec);
      sent.set(s.topic(codec), records);
    }
    const archiver = spawnLogged(["archive", "--until-end", ...s.flags], s.env);
    const backstop = setTimeout(() => archiver.kill("SIGKILL"), BACKSTOP_S * 1000);
    const status = await archiver.done.finally(() => clearTimeout(backstop));
    const log = archiver.lines.slice(-30).join("\n");
    assert.equal(status.code, 0, `archive failed or never finished:\n${log}`);
    await checkArchived(s, sent);
    await checkRestored(s, sent);
  });
});
