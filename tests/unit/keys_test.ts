import assert from "node:assert/strict";
import { KEY_LAYOUTS, objectKey, parseKeyLayout, parseObjectKey } from "../../lib/format/keys.ts";
import { isTopicName } from "../../lib/topics/names.ts";

const U = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const hasCode = (code: string) => (e: Error & { code?: string }) => e.code === code;

// Expected dates were computed with Python's time.gmtime, the production archive's own clock arithmetic.
const DATED: [bigint, string, string][] = [
  [1674000000123n, "2023/01/18", "2023/1/18/0"],
  [1673913601234n, "2023/01/17", "2023/1/17/0"],
  [1673913599999n, "2023/01/16", "2023/1/16/23"],
  [981173106000n, "2001/02/03", "2001/2/3/4"],
  [0n, "1970/01/01", "1970/1/1/0"],
  [253402300799999n, "9999/12/31", "9999/12/31/23"],
];

Deno.test("daily keys are zero-padded UTC dates; hourly keys are the production layout", () => {
  for (const [ts, daily, hourly] of DATED) {
    assert.equal(objectKey("daily", "gcn.circular", ts, U), `gcn.circular/${daily}/${U}.bson`);
    assert.equal(objectKey("hourly", "gcn.circular", ts, U), `gcn.circular/${hourly}/${U}.bson`);
  }
});

Deno.test("timestamps without a real date go under the all-zero date, which lists first", () => {
  for (const ts of [-1n, -86400000n, -(2n ** 63n), 253402300800000n, 2n ** 62n, 2n ** 63n - 1n]) {
    assert.equal(objectKey("daily", "t", ts, U), `t/0000/00/00/${U}.bson`, String(ts));
    assert.equal(objectKey("hourly", "t", ts, U), `t/0/0/0/0/${U}.bson`, String(ts));
  }
  assert.ok(objectKey("daily", "t", -1n, U) < objectKey("daily", "t", 0n, U));
});

Deno.test("daily keys list in time order", () => {
  const stamps = [-1n, 0n, 981173106000n, 1673913599999n, 1673913601234n, 1674000000123n, 253402300799999n];
  const keys = stamps.map((ts) => objectKey("daily", "t", ts, U));
  assert.deepEqual([...keys].sort(), keys);
});

Deno.test("parseObjectKey inverts objectKey in both layouts", () => {
  const topics = ["gcn.circular", "my-org.alerts_v2", "a", "UPPER.lower-9_x", "x".repeat(249)];
  for (const layout of KEY_LAYOUTS) {
    for (const topic of topics) {
      for (const ts of [-1n, 0n, 1674000000123n, 2n ** 62n]) {
        assert.deepEqual(parseObjectKey(objectKey(layout, topic, ts, U)), { topic, uuid: U });
      }
    }
  }
  // Keys the production archive wrote for pre-1970 times (Python gmtime of -1 ms) are still recognised.
  assert.deepEqual(parseObjectKey(`t/1969/12/31/23/${U}.bson`), { topic: "t", uuid: U });
});

Deno.test("parseObjectKey rejects anything else in the bucket", () => {
  for (
    const key of [
      `${U}.bson`,
      `t/${U}.bson`,
      `t/2023/1/18/${U}.bson`,
      `t/2023/01/18/00/00/${U}.bson`,
      `t/2023/01/18/${U.toUpperCase()}.bson`,
      `t/2023/01/18/${U}.json`,
      `t/2023/01/18/${U}.bson.tmp`,
      `a/b/2023/01/18/${U}.bson`,
      `t/2023/01/18/not-a-uuid.bson`,
      `/2023/01/18/${U}.bson`,
      `t/2023/01/18/${U}`,
    ]
  ) assert.equal(parseObjectKey(key), null, key);
});

Deno.test("objectKey refuses topics and UUIDs that would make an unparseable key", () => {
  for (const topic of ["", "a/b", "sp ace", "x".repeat(250), "é"]) {
    assert.throws(() => objectKey("daily", topic, 0n, U), hasCode("KEY_TOPIC_INVALID"), topic);
  }
  for (const uuid of [U.toUpperCase(), "", "0f1e2d3c4b5a49788695a4b3c2d1e0f9"]) {
    assert.throws(() => objectKey("hourly", "t", 0n, uuid), hasCode("KEY_UUID_INVALID"), uuid);
  }
});

Deno.test("parseKeyLayout accepts the two layout names only", () => {
  assert.equal(parseKeyLayout("daily"), "daily");
  assert.equal(parseKeyLayout("hourly"), "hourly");
  for (const bad of ["", "Daily", "monthly", " daily"]) {
    assert.throws(() => parseKeyLayout(bad), (e: Error & { code?: string }) => {
      assert.equal(e.code, "KEY_LAYOUT_INVALID");
      assert.match(e.message, /daily, hourly/);
      return true;
    });
  }
});

Deno.test("keys: offloaded messages file under <topic>+oversized, and only that suffix may carry a '+'", () => {
  const uuid = "2f1e5b6a-9c3d-4e7f-8a1b-2c3d4e5f6a7b";
  const key = objectKey("daily", "gcn.circular+oversized", 0n, uuid);
  assert.equal(key, `gcn.circular+oversized/1970/01/01/${uuid}.bson`);
  assert.deepEqual(parseObjectKey(key), { topic: "gcn.circular+oversized", uuid });
  assert.throws(() => objectKey("daily", "a+b", 0n, uuid), hasCode("KEY_TOPIC_INVALID"));
  assert.equal(isTopicName("gcn.circular+oversized"), false);
});
