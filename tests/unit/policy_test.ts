// The topic policy's decision table: hopauth's flags as archive-core applies them, the static policy as today's
// settings, the offload pseudo-topic following its topic, and hopauth's answer taken apart as hostile input.
import assert from "node:assert/strict";
import { createStaticPolicy, decideByHopauth, type HopauthTopicFlags } from "../../lib/topics/policy.ts";
import { parseTopicsAnswer } from "../../lib/topics/policy_hopauth.ts";
import { parsePublicTopics, parseTopicList } from "../../lib/topics/public_topics.ts";
import { parseVeto } from "../../lib/topics/veto.ts";

const veto = parseVeto("topics: [sys.heartbeat]\npatterns: ['secret\\..*']\n", "veto.yaml");
const flag = (archivable: boolean, publicly_readable: boolean, index_archived_text: boolean) => ({
  archivable,
  publicly_readable,
  index_archived_text,
});

Deno.test("hopauth decision table: archived only when readable, not internal, not vetoed and archivable", () => {
  const flags = new Map<string, HopauthTopicFlags>([
    ["gcn.circular", flag(true, true, true)],
    ["lvk.alert", flag(true, false, false)],
    ["private.t", flag(false, false, true)],
    ["sys.heartbeat", flag(true, true, true)],
    ["secret.x", flag(true, true, true)],
    ["__consumer_offsets", flag(true, true, true)],
  ]);
  const table: [string, boolean, string, boolean, boolean][] = [
    // topic, readable -> category, public, indexText
    ["gcn.circular", true, "archived", true, true],
    ["lvk.alert", true, "archived", false, false],
    ["private.t", true, "not_archivable", false, true],
    ["sys.heartbeat", true, "vetoed", true, true],
    ["secret.x", true, "vetoed", true, true],
    ["__consumer_offsets", true, "internal", true, true],
    ["unknown.t", true, "not_listed", false, false],
    ["gcn.circular", false, "unreadable", true, true],
  ];
  for (const [topic, readable, category, isPublic, indexText] of table) {
    const d = decideByHopauth(topic, readable, veto, flags, "hopauth");
    const label = `${topic} readable=${readable}`;
    assert.equal(d.category, category, label);
    assert.equal(d.archive, category === "archived", label);
    assert.equal(d.public, isPublic, label);
    assert.equal(d.indexText, indexText, label);
    assert.equal(d.source, "hopauth", label);
    assert.ok(d.reason.length > 0, label);
  }
});

Deno.test("hopauth decision table: <topic>+oversized follows its topic in every column", () => {
  const flags = new Map<string, HopauthTopicFlags>([
    ["a.on", flag(true, true, true)],
    ["a.off", flag(false, false, false)],
  ]);
  for (const base of ["a.on", "a.off", "sys.heartbeat", "a.unknown"]) {
    const plain = decideByHopauth(base, true, veto, flags, "hopauth");
    const offload = decideByHopauth(`${base}+oversized`, true, veto, flags, "hopauth");
    assert.deepEqual(
      { ...offload, reason: undefined },
      { ...plain, reason: undefined },
      `${base}+oversized decides as ${base}`,
    );
    assert.match(offload.reason, new RegExp(`follows ${base.replace(".", "\\.")}`));
  }
});

Deno.test("static policy: today's behaviour (veto list, --public-topics, --index-text), +oversized follows", () => {
  const policy = createStaticPolicy({
    veto,
    publicTopics: parsePublicTopics("gcn\\..*"),
    indexText: parseTopicList("gcn.circular", "index-text"),
  });
  assert.equal(policy.source, "static");
  assert.deepEqual(policy.named(), []);
  const d = (t: string) => {
    const { archive, public: pub, indexText, category, source } = policy.decide(t);
    return { archive, pub, indexText, category, source };
  };
  assert.deepEqual(d("gcn.circular"), {
    archive: true,
    pub: true,
    indexText: true,
    category: "archived",
    source: "static",
  });
  assert.deepEqual(d("gcn.notice"), {
    archive: true,
    pub: true,
    indexText: false,
    category: "archived",
    source: "static",
  });
  assert.deepEqual(d("lvk.alert"), {
    archive: true,
    pub: false,
    indexText: false,
    category: "archived",
    source: "static",
  });
  assert.equal(d("sys.heartbeat").category, "vetoed");
  assert.equal(d("__consumer_offsets").category, "internal");
  assert.deepEqual(d("gcn.circular+oversized"), d("gcn.circular"));
  assert.equal(d("sys.heartbeat+oversized").archive, false);
  // Nothing is indexed unless --index-text names it.
  const plain = createStaticPolicy({
    veto,
    publicTopics: parsePublicTopics(""),
    indexText: parseTopicList(""),
  });
  assert.equal(plain.decide("gcn.circular").indexText, false);
  assert.equal(plain.decide("gcn.circular").public, false);
});

Deno.test("hopauth's answer: only a JSON true switches a flag on; entries without a valid topic name are skipped", () => {
  const { flags, skipped } = parseTopicsAnswer([
    { name: "ok.t", archivable: true, publicly_readable: true, index_archived_text: true },
    { name: "strings.t", archivable: "true", publicly_readable: 1, index_archived_text: "yes" },
    { name: "missing.t" },
    { name: "bad/name", archivable: true },
    { name: "with+plus", archivable: true },
    { name: "x".repeat(250), archivable: true },
    { archivable: true },
    null,
    "gcn.circular",
    ["a"],
  ]);
  assert.deepEqual([...flags.keys()], ["ok.t", "strings.t", "missing.t"]);
  assert.deepEqual(flags.get("ok.t"), flag(true, true, true));
  assert.deepEqual(flags.get("strings.t"), flag(false, false, false));
  assert.deepEqual(flags.get("missing.t"), flag(false, false, false));
  assert.equal(skipped, 7);
  for (const notAList of [{}, null, "[]", 3, { results: [] }]) {
    assert.throws(
      () => parseTopicsAnswer(notAList),
      (e: Error & { code?: string }) => e.code === "HOPAUTH_ANSWER_INVALID",
      JSON.stringify(notAList),
    );
  }
});
