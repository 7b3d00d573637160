// A topic deleted and created again restarts its offsets at 0: the new records must be archived under their own
// identities, next to (never over) what was archived from the first incarnation.
import assert from "node:assert/strict";
import { uuidText } from "../lib/identity.ts";
import { createFsStore } from "../lib/store/fs.ts";
import {
  adminKafka,
  archiveEnv,
  createTopics,
  deleteTopics,
  dropSchema,
  peerProduce,
  runMain,
  schemaSql,
  testIds,
  vetoAllBut,
  waitFor,
} from "./archive_helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const id16 = (n: number) => new Uint8Array(16).fill(n);

Deno.test("archive: a deleted and re-created topic is archived again without colliding with its first life", async () => {
  const { id, group, schema } = testIds("arch-recreate");
  const topic = `${id}.t`;
  const dir = await Deno.makeTempDir();
  const args = [
    "archive",
    "--until-end",
    "--group",
    group,
    "--store",
    `file://${dir}`,
    "--db-schema",
    schema,
  ];
  const env = archiveEnv({ VETO_FILE: vetoAllBut(id) });
  try {
    await createTopics([topic]);
    await peerProduce(topic, [
      { value: bytes("first life A"), headers: [["_id", id16(1)]] },
      { value: bytes("legacy"), timestamp: 1_700_000_000_000 },
      { value: bytes("first life C"), headers: [["_id", id16(3)]] },
    ]);
    const first = await runMain(args, env);
    assert.equal(first.code, 0, first.stderr);

    await deleteTopics([topic]);
    await waitFor("topic deleted", async () => {
      const admin = adminKafka().admin();
      await admin.connect();
      try {
        return (await admin.listTopics()).includes(topic) ? undefined : true;
      } finally {
        await admin.disconnect();
      }
    });
    await createTopics([topic]);
    await peerProduce(topic, [
      { value: bytes("second life B"), headers: [["_id", id16(2)]] }, // offset 0 again
      { value: bytes("second life D"), headers: [["_id", id16(4)]] },
      // Identical to the first life's legacy record, at another offset: a receipt. (At the SAME offset it would be
      // indistinguishable from a replay of that record, and is treated as one: nothing differs to be lost.)
      { value: bytes("legacy"), timestamp: 1_700_000_000_000 },
      { value: bytes("second life E"), headers: [["_id", id16(5)]] },
    ]);
    const second = await runMain(args, env);
    assert.equal(second.code, 0, second.stderr);

    const sql = schemaSql(schema);
    try {
      const rows = await sql<{ uuid: string; offset: bigint }[]>`
        SELECT uuid, "offset" FROM messages WHERE topic = ${topic} ORDER BY archived_at, "offset"`;
      const uuids = rows.map((r) => r.uuid);
      for (const n of [1, 2, 3, 4, 5]) assert.ok(uuids.includes(uuidText(id16(n))), `record ${n} archived`);
      assert.equal(rows.length, 6, "five client messages and one legacy message");
      const receipts = await sql<{ offset: bigint; timestamp: bigint }[]>`
        SELECT "offset", timestamp FROM receipts WHERE topic = ${topic}`;
      assert.deepEqual(receipts.map((r) => [Number(r.offset), Number(r.timestamp)]), [[
        2,
        1_700_000_000_000,
      ]]);
    } finally {
      await sql.end();
    }
    // Both lives' objects sit side by side in the store: six objects under the topic.
    let objects = 0;
    for await (const o of (await createFsStore(dir)).list(`${topic}/`)) objects += o.size > 0 ? 1 : 0;
    assert.equal(objects, 6);
  } finally {
    await deleteTopics([topic]);
    await dropSchema(schema);
    await Deno.remove(dir, { recursive: true });
  }
});
