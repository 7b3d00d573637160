// The pure parts of `serve`: its argument parser, the public-topic list, UUID spellings, the streaming BSON reader.
import assert from "node:assert/strict";
import { Binary, BSON } from "bson";
import { parseServeArgs } from "../../lib/commands/serve.ts";
import { openMessageElement } from "../../lib/serve/bson_stream.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import { normaliseUuid, readLimited } from "../../lib/serve/server.ts";
import { hasCode } from "../support/helpers.ts";

Deno.test("parseServeArgs: flags over environment, defaults, and usage errors", () => {
  const none = parseServeArgs([], {});
  assert.equal(none.httpPort, 8080);
  assert.equal(none.httpHost, "0.0.0.0");
  assert.equal(none.hopAuthUrl, undefined);
  assert.equal(none.maxUploadBytes, 64 * 2 ** 20);
  assert.equal(none.uploadTimeoutMs, 120_000);
  assert.equal(parseServeArgs(["--upload-timeout", "5"], {}).uploadTimeoutMs, 5_000);
  assert.equal(parseServeArgs([], { UPLOAD_TIMEOUT_SECONDS: "7" }).uploadTimeoutMs, 7_000);
  assert.throws(() => parseServeArgs(["--upload-timeout", "0"], {}), hasCode("USAGE"));
  assert.equal(none.readOnly, false);
  const env = { HTTP_PORT: "9000", HOPAUTH_API_URL: "https://a.example/hopauth/api", PUBLIC_TOPICS: "x" };
  const o = parseServeArgs(
    ["--http-port", "0", "--public-topics", "gcn.circular, lvk\\..*", "--read-only"],
    env,
  );
  assert.equal(o.httpPort, 0);
  assert.equal(o.hopAuthUrl, "https://a.example/hopauth/api");
  assert.deepEqual(o.publicTopics.entries, ["gcn.circular", "lvk\\..*"]);
  assert.equal(o.readOnly, true);
  assert.throws(() => parseServeArgs(["--http-port", "99999"], {}), hasCode("USAGE"));
  assert.throws(() => parseServeArgs(["--hopauth-url", "admin.hop"], {}), hasCode("USAGE"));
  assert.throws(() => parseServeArgs(["--public-topics", "a(b"], {}), hasCode("USAGE"));
  assert.throws(() => parseServeArgs([], { PUBLIC_TOPICS: "a(b" }), hasCode("CONFIG_INVALID"));
  assert.throws(() => parseServeArgs([], { HTTP_PORT: "99999" }), hasCode("CONFIG_INVALID"));
  assert.equal(parseServeArgs([], { HTTP_PORT: "" }).httpPort, 8080, "an empty variable is unset");
  assert.throws(() => parseServeArgs(["--nope"], {}), hasCode("USAGE"));
});

Deno.test("MAX_UPLOAD_MIB: 1 to 1024; past the ceiling start-up stops naming the flag or variable", () => {
  assert.equal(parseServeArgs(["--max-upload-mib", "1024"], {}).maxUploadBytes, 1024 * 2 ** 20);
  assert.equal(parseServeArgs([], { MAX_UPLOAD_MIB: "1" }).maxUploadBytes, 2 ** 20);
  assert.throws(() => parseServeArgs(["--max-upload-mib", "1025"], {}), hasCode("USAGE"));
  assert.throws(() => parseServeArgs(["--max-upload-mib", "0"], {}), hasCode("USAGE"));
  assert.throws(
    () => parseServeArgs([], { MAX_UPLOAD_MIB: "9007199254740993" }),
    (e: Error) => hasCode("CONFIG_INVALID")(e) && /MAX_UPLOAD_MIB/.test(e.message),
  );
});

Deno.test("READ_ONLY: true or false in any case; anything else stops start-up naming the variable", () => {
  // archive-api's Python users write READ_ONLY=True: it used to be taken as false, and writes were accepted.
  for (const text of ["true", "True", "TRUE"]) {
    assert.equal(parseServeArgs([], { READ_ONLY: text }).readOnly, true, text);
  }
  for (const text of ["false", "False", ""]) {
    assert.equal(parseServeArgs([], { READ_ONLY: text }).readOnly, false, JSON.stringify(text));
  }
  for (const text of ["1", "yes", "on", "0", "no", "off", " true", "ture"]) {
    assert.throws(() => parseServeArgs([], { READ_ONLY: text }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "CONFIG_INVALID", text);
      assert.match(e.message, /--read-only must be true or false, got .* \(from READ_ONLY\)/);
      return true;
    });
  }
  assert.equal(parseServeArgs(["--read-only"], { READ_ONLY: "false" }).readOnly, true, "the flag wins");
  assert.throws(() => parseServeArgs(["--read-only=yes"], {}), hasCode("USAGE"));
});

Deno.test("public topics: exact names compare literally, patterns match whole names", () => {
  const p = parsePublicTopics("gcn.circular,lvk\\.(alert|test),igwn.*");
  assert.ok(p.isPublic("gcn.circular"));
  assert.ok(!p.isPublic("gcnXcircular"), "a plain name's dot is not a wildcard");
  assert.ok(p.isPublic("lvk.alert"));
  assert.ok(!p.isPublic("lvk.alerts"), "patterns match the whole name");
  assert.ok(p.isPublic("igwn.gwalert"));
  assert.ok(!parsePublicTopics(undefined).isPublic("anything"));
  assert.ok(!parsePublicTopics("").isPublic(""));
});

Deno.test("normaliseUuid: the spellings Python's uuid.UUID takes; null for the rest", () => {
  const canonical = "457e145b-9f72-416f-87ca-73f0e188183d";
  for (
    const s of [
      canonical,
      canonical.toUpperCase(),
      `{${canonical}}`,
      `urn:uuid:${canonical}`,
      canonical.replaceAll("-", ""),
    ]
  ) {
    assert.equal(normaliseUuid(s), canonical, s);
  }
  for (const s of ["", "not-a-uuid", canonical.slice(1), `${canonical}0`, "../../etc/passwd"]) {
    assert.equal(normaliseUuid(s), null, s);
  }
});

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

Deno.test("openMessageElement: finds `message` after any other elements, in chunks of any size", async () => {
  const value = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const doc = BSON.serialize({
    a: 1.5,
    s: "text",
    d: { nested: [1, 2, new Binary(Uint8Array.of(9))] },
    b: new Binary(Uint8Array.of(1, 2, 3)),
    n: null,
    l: BSON.Long.fromNumber(7),
    message: new Binary(value),
    after: "ignored",
  });
  for (const size of [1, 3, 7, 64, 4096]) {
    const found = await openMessageElement(chunked(doc, size));
    assert.equal(found.kind, "binary");
    if (found.kind !== "binary") return;
    assert.equal(found.length, value.length);
    assert.deepEqual(
      new Uint8Array(await new Response(found.body).arrayBuffer()),
      value,
      `chunks of ${size}`,
    );
  }
  assert.equal((await openMessageElement(chunked(BSON.serialize({ message: null }), 2))).kind, "null");
  assert.deepEqual(await openMessageElement(chunked(BSON.serialize({ message: { format: "x" } }), 5)), {
    kind: "other",
    type: 3,
  });
  assert.equal((await openMessageElement(chunked(BSON.serialize({ other: 1 }), 5))).kind, "absent");
  await assert.rejects(openMessageElement(chunked(doc.slice(0, 40), 8)), hasCode("OBJECT_MALFORMED"));
});

Deno.test("upload bodies: whole, too large, or cut off when the client stalls", async () => {
  const post = (
    chunks: Uint8Array[],
    { stall = false, length }: { stall?: boolean; length?: number } = {},
  ) => {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < chunks.length) controller.enqueue(chunks[i++]!);
        else if (!stall) controller.close();
        // else: the client sends nothing more and keeps the connection open
      },
    });
    const headers: Record<string, string> = length === undefined ? {} : { "content-length": String(length) };
    return new Request("http://x/topic/t", { method: "POST", body, headers });
  };
  const part = (n: number, byte: number) => new Uint8Array(n).fill(byte);
  assert.deepEqual(
    await readLimited(post([part(3, 1), part(2, 2)]), 5, 10_000),
    Uint8Array.of(1, 1, 1, 2, 2),
  );
  assert.equal(await readLimited(post([part(3, 1), part(3, 2)]), 5, 10_000), "too_large");
  assert.equal(await readLimited(post([], { length: 6 }), 5, 10_000), "too_large", "declared too large");
  assert.equal(await readLimited(post([part(3, 1)], { stall: true }), 5, 50), "timeout");
  // What Deno's server gives for broken chunked framing: the body stream errors mid-read.
  const broken = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new TypeError("error reading a body from connection"));
    },
  });
  assert.equal(
    await readLimited(new Request("http://x/topic/t", { method: "POST", body: broken }), 5, 10_000),
    "malformed",
  );
});
