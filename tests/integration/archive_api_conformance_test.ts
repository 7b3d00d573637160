// `serve` against what the real archive-api answered (tests/testdata/archive_api/answers.json, recorded by
// scripts/archive_api_conformance.ts on the same data set): every request of the table is sent to `serve` and its
// status, the headers a client reads and the decoded body must be archive-api's, except for the deliberate
// differences below, each of which has an assertion of its own.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { corsPolicy } from "../../lib/serve/manners.ts";
import {
  type Answer,
  AUTH,
  type ConformanceRequest,
  CORS,
  FIXTURE_DIR,
  perform,
  PUBLIC_TOPIC,
  REQUESTS,
  seed,
  shapeOf,
} from "../support/archive_api_conformance.ts";
import { withServe } from "../support/serve_fixture.ts";

interface Recorded {
  request: ConformanceRequest;
  answer: Answer;
}

const recorded: Recorded[] = JSON.parse(await Deno.readTextFile(`${FIXTURE_DIR}answers.json`)).requests;
const expected = new Map(recorded.map((r) => [r.request.name, r.answer]));

const bsonDoc = (a: Answer) => (a.body.kind === "bson" ? a.body.doc : null) as Record<string, unknown> | null;

/**
 * Deliberate differences: request -> the assertion on serve's answer (archive-api's is in the fixture). Each is
 * listed in the README with its reason.
 */
const DIFFERENCES: Record<string, (got: Answer, archiveApi: Answer, all: Map<string, Answer>) => void> = {
  // archive-api: 500 "Internal Error" (sqlakeyset cannot parse it). A bad bookmark is the client's error.
  topic_bad_bookmark: (got, theirs) => {
    assert.equal(theirs.status, 500);
    assert.equal(got.status, 400);
    assert.deepEqual(got.body, { kind: "text", text: "Invalid page bookmark" });
  },
  // archive-api: 500 for a topic without rows (it divides by the topic's row count). serve: an empty page.
  topic_empty: (got, theirs) => {
    assert.equal(theirs.status, 500);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { kind: "bson", doc: { messages: [], next: null, prev: null } });
  },
  // archive-api's single-topic Read check is inverted: a credential WITH Read gets public rows only...
  topic_priv_reader: (got, theirs, all) => {
    assert.deepEqual(bsonDoc(theirs)!.messages, []);
    // ...serve gives it the rows archive-api gave the credential without Read.
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, expected.get("topic_priv_writer")!.body);
    assert.ok((bsonDoc(all.get("topic_priv_reader")!)!.messages as unknown[]).length === 5);
  },
  // ...and a credential WITHOUT Read (Write only) gets every private row there; serve: public rows only (none).
  topic_priv_writer: (got, theirs) => {
    assert.equal((bsonDoc(theirs)!.messages as unknown[]).length, 5);
    assert.deepEqual(got.body, { kind: "bson", doc: { messages: [], next: null, prev: null } });
  },
  // Same credential (Write only): archive-api lists all 70 private rows; serve none.
  topic_priv_meta_all: (got, theirs) => {
    assert.equal((bsonDoc(theirs)!.messages as unknown[]).length, 70);
    assert.deepEqual(got.body, { kind: "bson", doc: { messages: [], next: null, prev: null } });
  },
  topic_priv_full_cap: (got, theirs) => {
    assert.equal((bsonDoc(theirs)!.messages as unknown[]).length, 64);
    assert.deepEqual(got.body, { kind: "bson", doc: { next: null, prev: null, messages: [] } });
  },
  after_retract_meta: (got) => {
    assert.deepEqual(got.body, { kind: "bson", doc: { messages: [], next: null, prev: null } });
  },
  after_retract_excluded: (got) => {
    assert.deepEqual(got.body, { kind: "bson", doc: { messages: [], next: null, prev: null } });
  },
  // archive-api answers HEAD with 405; serve answers HEAD of a GET route as the GET, without the body.
  head_topics: (got, theirs, all) => {
    assert.equal(theirs.status, 405);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { kind: "empty" });
    assert.equal(got.headers["content-type"], all.get("topics_anon")!.headers["content-type"]);
  },
  // The same upload again (a retry): archive-api stores a second copy under a random UUID (is_client_uuid false);
  // serve archives it once and answers as the first time.
  upload_with_id_again: (got, theirs, all) => {
    assert.equal(theirs.status, 201);
    assert.equal(bsonDoc(theirs)!.is_client_uuid, false);
    assert.equal(got.status, 201);
    assert.deepEqual(got.body, all.get("upload_with_id")!.body);
  },
  // archive-api's raw_file cuts a 1024-byte value short (its BSON walk stops early); serve sends all of it.
  raw_1024: (got, theirs) => {
    assert.equal(theirs.status, 200);
    const length = (a: Answer) => a.body.kind === "bytes" ? Buffer.from(a.body.base64, "base64").length : -1;
    assert.ok(length(theirs) < 1024, `archive-api sent ${length(theirs)} bytes`);
    assert.equal(got.status, 200);
    assert.deepEqual(
      got.body,
      {
        kind: "bytes",
        base64: Buffer.from(Uint8Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) % 256)).toString(
          "base64",
        ),
      },
    );
  },
  // archive-api: 500 (its CRC-32 of a str fails). serve: 400, the message must be binary.
  upload_string_message: (got, theirs) => {
    assert.equal(theirs.status, 500);
    assert.equal(got.status, 400);
    assert.deepEqual(got.body, { kind: "text", text: "message must be binary data" });
  },
};

/** Headers compared as archive-api sends them, except for the general differences checked here. */
function assertHeaders(name: string, got: Answer, theirs: Answer): void {
  const names = new Set([...Object.keys(got.headers), ...Object.keys(theirs.headers)]);
  for (const header of names) {
    const mine = got.headers[header];
    const their = theirs.headers[header];
    if (header === "content-type" && their === undefined) {
      // archive-api labels no BSON listing and no plain-text error; serve labels every body it sends.
      const wanted = name.startsWith("raw_") || name === "upload_read_back"
        ? "application/octet-stream"
        : got.body.kind === "bson"
        ? "application/bson"
        : got.body.kind === "text"
        ? "text/plain; charset=utf-8"
        : mine;
      assert.equal(mine, wanted, `${name}: content-type`);
      continue;
    }
    if (header === "www-authenticate" && their !== undefined && mine !== undefined) {
      // archive-api's anonymous challenge names a fixed realm (default@dev.hop.scimma.org); serve names its own.
      assert.equal(mine.split(" ")[0], their.split(" ")[0], `${name}: www-authenticate scheme`);
      continue;
    }
    assert.equal(mine, their, `${name}: header ${header}`);
  }
}

function assertBody(req: ConformanceRequest, got: Answer, theirs: Answer): void {
  if (req.compare === "shape") {
    assert.deepEqual(shapeOf(got.body), shapeOf(theirs.body), `${req.name}: body shape`);
    return;
  }
  if (req.name.startsWith("topics_") || req.name.startsWith("cors_") && got.body.kind === "bson") {
    // Python's set order (archive-api's) is arbitrary: the topics as a set; serve sorts them.
    const topics = (a: Answer) => [...(bsonDoc(a)?.topics as string[])].sort();
    assert.deepEqual(topics(got), topics(theirs), `${req.name}: topics`);
    return;
  }
  assert.deepEqual(got.body, theirs.body, `${req.name}: body`);
}

Deno.test("serve answers the archive-api conformance table as archive-api does", async (t) => {
  assert.deepEqual(
    recorded.map((r) => r.request),
    REQUESTS,
    "the table changed: regenerate the fixture (scripts/archive_api_conformance.ts)",
  );
  await withServe({
    publicTopics: PUBLIC_TOPIC,
    auth: AUTH,
    tweaks: { cors: corsPolicy(CORS.origins, CORS.regex, "test") },
  }, async (f) => {
    await seed(f.index, f.store, f.sql);
    const answers = new Map<string, Answer>();
    for (const req of REQUESTS) {
      const got = await perform(f.url, req, answers);
      answers.set(req.name, got);
      const theirs = expected.get(req.name)!;
      await t.step(`${req.name}: ${req.method} ${req.path}`, () => {
        const deliberate = DIFFERENCES[req.name];
        if (deliberate !== undefined) {
          deliberate(got, theirs, answers);
          return;
        }
        assert.equal(
          got.status,
          theirs.status,
          `${req.name}: status (${JSON.stringify(got.body).slice(0, 300)})`,
        );
        assertHeaders(req.name, got, theirs);
        assertBody(req, got, theirs);
      });
    }
    await t.step("openapi.json describes every route archive-api has", () => {
      const paths = (a: Answer) => (a.body.kind === "json" ? (a.body.value as { paths: object }).paths : {});
      const theirs = paths(expected.get("openapi")!) as Record<string, object>;
      const mine = paths(answers.get("openapi")!) as Record<string, object>;
      for (const [path, methods] of Object.entries(theirs)) {
        assert.ok(mine[path] !== undefined, `openapi.json lacks ${path}`);
        assert.deepEqual(Object.keys(mine[path]!).sort(), Object.keys(methods).sort(), path);
      }
    });
    await t.step("/docs needs nothing from outside (archive-api's loads a CDN)", () => {
      const page = answers.get("docs")!.body;
      assert.equal(page.kind, "text");
      assert.doesNotMatch((page as { text: string }).text, /https?:\/\//);
      const theirs = expected.get("docs")!.body as { text: string };
      assert.match(theirs.text, /cdn\.jsdelivr\.net/);
    });
  });
});
