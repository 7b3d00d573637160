// The archiver's Kafka request timeout follows its group session timeout (see requestTimeoutFor).
import assert from "node:assert/strict";
import { requestTimeoutFor } from "../../lib/archive/consumer.ts";
import { parseArchiveArgs } from "../../lib/commands/archive.ts";

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
