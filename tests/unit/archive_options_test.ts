// The archiver's Kafka request timeout follows its group session timeout (see requestTimeoutFor).
import assert from "node:assert/strict";
import { requestTimeoutFor } from "../../lib/archive/consumer.ts";
import { parseArchiveArgs } from "../../lib/commands/archive.ts";
import { hasCode } from "../support/helpers.ts";

Deno.test("Kafka requests outwait the group session by 10 s, and never wait less than kafkajs's 30 s", () => {
  // The default 45 s session: a SyncGroup held by a dead leader is answered (at 45 s) before it times out.
  assert.equal(requestTimeoutFor(45_000), 55_000);
  assert.equal(requestTimeoutFor(300_000), 310_000);
  // Short sessions keep kafkajs's own default.
  assert.equal(requestTimeoutFor(6_000), 30_000);
  assert.equal(requestTimeoutFor(20_000), 30_000);
  for (const session of [1_000, 10_000, 45_000, 120_000]) {
    assert.ok(requestTimeoutFor(session) > session, `${session} ms`);
  }
  const { sessionTimeoutMs } = parseArchiveArgs(["--session-timeout", "60"], {}, () => "");
  assert.equal(requestTimeoutFor(sessionTimeoutMs), 70_000);
});

Deno.test("--index-text: names, patterns or *; from flag, env or file; off by default; +oversized follows", () => {
  const parse = (argv: string[], env: Record<string, string> = {}, file = "") =>
    parseArchiveArgs(argv, env, () => file).indexText;
  assert.equal(parse([]).has("gcn.circular"), false);
  const list = parse(["--index-text", "gcn.circular,lvk\\..*"]);
  assert.deepEqual(
    ["gcn.circular", "gcn.circular+oversized", "lvk.alert", "gcnXcircular", "igwn.x"].map(list.has),
    [true, true, true, false, false],
  );
  assert.equal(parse(["--index-text", "*"]).has("any.topic"), true);
  assert.equal(parse([], { HOUSEKEEPING_INDEX_TEXT: "*" }).has("x"), true);
  assert.equal(parse(["--config", "c.yaml"], {}, "index_text: [a, b]").has("b"), true);
  assert.throws(() => parse(["--index-text", "gcn.(circular"]), hasCode("USAGE"));
  assert.throws(
    () => parse([], { HOUSEKEEPING_INDEX_TEXT: "(" }),
    (e: Error) => hasCode("CONFIG_INVALID")(e) && /HOUSEKEEPING_INDEX_TEXT/.test(e.message),
  );
});
