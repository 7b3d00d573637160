// `serve` against real MinIO, PostgreSQL and hop-client: reads byte for byte, archive-api's answers (400, 401 with
// WWW-Authenticate, 403, 404), access through the hopauth stand-in's real SCRAM-SHA-512, and the offload write.
import { Binary, BSON } from "bson";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import { crc32 } from "../../lib/format/checksum.ts";
import { decodeArchiveObject, type KafkaRecord } from "../../lib/format/record.ts";
import { parseUpload } from "../../lib/serve/offload.ts";
import { archiveEnv, spawnLogged, waitFor } from "../support/archive_helpers.ts";
import { runPython, serviceEnv } from "../support/helpers.ts";
import { idHeader, withServe } from "../support/serve_fixture.ts";

const enc = new TextEncoder();
const b64 = (bytes: Uint8Array | null) => bytes === null ? null : Buffer.from(bytes).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

interface PeerAnswer {
  status: number | null;
  body?: string;
  headers?: Record<string, string>;
  error?: string;
}

/** One request through hop-client's own HTTP SCRAM client (requests + hop.http_scram.SCRAMAuth, shortcut). */
async function hopHttp(
  method: string,
  url: string,
  creds?: [string, string],
  body?: Uint8Array,
): Promise<PeerAnswer> {
  const args = {
    method,
    url,
    ...(body ? { body: b64(body) } : {}),
    ...(creds ? { username: creds[0], password: creds[1] } : {}),
  };
  return JSON.parse(await runPython("serve_peer.py", ["http"], enc.encode(JSON.stringify(args))));
}

function record(topic: string, offset: number, value: Uint8Array | null, uuid?: string): KafkaRecord {
  return {
    topic,
    partition: 0,
    offset: BigInt(offset),
    timestamp: 1_750_000_000_000n + BigInt(offset),
    key: enc.encode(`k${offset}`),
    value,
    headers: [{ key: "_format", value: enc.encode("blob") }, ...(uuid ? [idHeader(uuid)] : [])],
  };
}

const USERS = { alice: "alice-secret", bob: "bob-secret" };
const ALICE: [string, string] = ["alice", USERS.alice];
const BOB: [string, string] = ["bob", USERS.bob];

Deno.test("serve: reads are byte-exact, public topics are open, others need SCRAM and Read", async (t) => {
  const pub = `pub-${crypto.randomUUID().slice(0, 8)}`;
  const priv = `priv-${crypto.randomUUID().slice(0, 8)}`;
  await withServe({
    publicTopics: `${pub},other\\..*`,
    auth: { users: USERS, permissions: { alice: { [priv]: ["Read"] }, bob: { [priv]: ["Describe"] } } },
  }, async (f) => {
    const value = crypto.getRandomValues(new Uint8Array(50_000));
    const [pubId, tombId, privId] = await f.archive([
      record(pub, 0, value, crypto.randomUUID()),
      record(pub, 1, null),
      record(priv, 0, enc.encode("private value"), crypto.randomUUID()),
    ]);
    const pubRow = (await f.index.byUuid(pubId!))!;
    const stored = (await f.store.get(pubRow.key))!;

    await t.step(
      "anonymous GET /msg of a public topic: the object as stored, with ETag and length",
      async () => {
        const resp = await fetch(`${f.url}/msg/${pubId}`);
        assert.equal(resp.status, 200);
        assert.equal(resp.headers.get("content-type"), "application/bson");
        assert.equal(resp.headers.get("content-length"), String(stored.length));
        assert.deepEqual(new Uint8Array(await resp.arrayBuffer()), stored);
        const etag = resp.headers.get("etag")!;
        const viaHop = await hopHttp("GET", `${f.url}/msg/${pubId}`);
        assert.equal(viaHop.status, 200, "hop-client without credentials reads a public message");
        assert.deepEqual(unb64(viaHop.body!), stored);
        const again = await fetch(`${f.url}/msg/${pubId!.toUpperCase()}`, {
          headers: { "if-none-match": etag },
        });
        assert.equal(again.status, 304);
        await again.body?.cancel();
      },
    );

    await t.step("raw_file: the value bytes without re-encoding; a tombstone is empty", async () => {
      const resp = await fetch(`${f.url}/msg/${pubId}/raw_file/alert.bin`);
      assert.equal(resp.status, 200);
      assert.equal(resp.headers.get("content-disposition"), 'attachment; filename="alert.bin"');
      assert.equal(resp.headers.get("content-length"), String(value.length));
      assert.deepEqual(new Uint8Array(await resp.arrayBuffer()), value);
      const tomb = await fetch(`${f.url}/msg/${tombId}/raw_file/x`);
      assert.equal(tomb.status, 200);
      assert.equal((await tomb.arrayBuffer()).byteLength, 0);
    });

    await t.step("400 for a malformed UUID, 404 for an unknown one", async () => {
      const bad = await fetch(`${f.url}/msg/not-a-uuid`);
      assert.equal(bad.status, 400);
      assert.equal(await bad.text(), "Invalid Message ID");
      const unknown = await fetch(`${f.url}/msg/${crypto.randomUUID()}`);
      assert.equal(unknown.status, 404);
      assert.equal(await unknown.text(), "Message not found");
    });

    await t.step("anonymous GET of a private topic: 401 with a SCRAM-SHA-512 challenge", async () => {
      const resp = await fetch(`${f.url}/msg/${privId}`);
      assert.equal(resp.status, 401);
      assert.match(resp.headers.get("www-authenticate")!, /^SCRAM-SHA-512/);
      assert.deepEqual(await resp.json(), { message: "Authentication required" });
    });

    await t.step(
      "hop-client's SCRAM client with Read gets the object; the server signature checks out",
      async () => {
        const answer = await hopHttp("GET", `${f.url}/msg/${privId}`, ALICE);
        assert.equal(answer.status, 200, JSON.stringify(answer));
        const row = (await f.index.byUuid(privId!))!;
        assert.deepEqual(unb64(answer.body!), await f.store.get(row.key));
        assert.match(answer.headers!["authentication-info"]!, /sid=.*data=/);
        assert.deepEqual(f.hopauth.calls.slice(-2).map((c) => [c.phase, c.status]), [["first", 401], [
          "final",
          200,
        ]]);
        const raw = await hopHttp("GET", `${f.url}/msg/${privId}/raw_file/v.txt`, ALICE);
        assert.equal(new TextDecoder().decode(unb64(raw.body!)), "private value");
      },
    );

    await t.step("a credential without Read: 403; a wrong password or an unknown user: refused", async () => {
      const bob = await hopHttp("GET", `${f.url}/msg/${privId}`, BOB);
      assert.equal(bob.status, 403);
      assert.equal(new TextDecoder().decode(unb64(bob.body!)), "Operation not permitted");
      const wrong = await hopHttp("GET", `${f.url}/msg/${privId}`, ["alice", "not-her-password"]);
      assert.ok(wrong.status === 401 || wrong.status === null, JSON.stringify(wrong));
      assert.deepEqual(f.hopauth.calls.at(-1), { phase: "final", status: 401 });
      const stranger = await hopHttp("GET", `${f.url}/msg/${privId}`, ["mallory", "x"]);
      assert.equal(stranger.status, 403);
    });

    await t.step("listings: archive-api's BSON with bookmarks; private rows need Read", async () => {
      const get = async (path: string) =>
        BSON.deserialize(new Uint8Array(await (await fetch(`${f.url}${path}`)).arrayBuffer()));
      const uuidOf = (m: { annotations: { con_text_uuid: Binary } }) =>
        m.annotations.con_text_uuid.toUUID().toHexString();
      const first = await get(`/topic/${pub}?meta=true&limit=1`);
      assert.deepEqual(first.messages.map(uuidOf), [pubId]);
      const second = await get(`/topic/${pub}?meta=true&limit=1&page=${encodeURIComponent(first.next)}`);
      assert.deepEqual(second.messages.map(uuidOf), [tombId]);
      assert.equal(second.next, null);
      const back = await get(`/topic/${pub}?meta=true&limit=1&page=${encodeURIComponent(second.prev)}`);
      assert.deepEqual(back.messages.map(uuidOf), [pubId]);
      const ranged = await get(`/topic/${pub}?meta=true&start_time=1750000000001`);
      assert.deepEqual(ranged.messages.map(uuidOf), [tombId]);
      const bad = await fetch(`${f.url}/topic/${pub}?start_time=5&end_time=1`);
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      // Without credentials: the public rows of the topic (none), as archive-api answers.
      assert.deepEqual((await get(`/topic/${priv}?meta=true`)).messages, []);
      const alice = await hopHttp("GET", `${f.url}/topic/${priv}?meta=true`, ALICE);
      assert.deepEqual(BSON.deserialize(unb64(alice.body!)).messages.map(uuidOf), [privId]);
    });

    await t.step("/health_check, /healthz and /metrics", async () => {
      assert.deepEqual(await (await fetch(`${f.url}/health_check`)).json(), {
        DatabaseOK: true,
        ObjectStoreOK: true,
        HopAuthOK: true,
      });
      assert.equal((await fetch(`${f.url}/healthz`)).status, 200);
      const metrics = await (await fetch(`${f.url}/metrics`)).text();
      assert.match(metrics, /housekeeping_http_requests_total\{route="msg",status="200"\} \d+/);
    });

    await t.step("a corrupted object is cut off, never completed", async () => {
      const damaged = stored.slice();
      damaged[damaged.length - 10]! ^= 0xff;
      // Write behind the index's back (BlobStore.put checks only the CRC-32 it is given).
      await f.store.put(pubRow.key, damaged, crc32(damaged));
      await assert.rejects(fetch(`${f.url}/msg/${pubId}`).then((r) => r.arrayBuffer()));
      assert.equal(crc32(stored), pubRow.crc32);
    });

    await t.step("an object longer than the index says is refused unread: a 500, not its bytes", async () => {
      // Read whole (it is small by the index's size), it must not be read whatever length the store declares.
      const longer = new Uint8Array(stored.length + 100_000);
      longer.set(stored);
      await f.store.put(pubRow.key, longer, crc32(longer));
      const resp = await fetch(`${f.url}/msg/${pubId}`);
      assert.equal(resp.status, 500);
      assert.match(await resp.text(), /^Internal Error/);
    });
  });
});

function uploadBody(
  uuid: string | null,
  value: Uint8Array,
  extra: Record<string, unknown> = {},
): Uint8Array<ArrayBuffer> {
  const headers: [string, Binary][] = [["user", new Binary(enc.encode("h\0\xff"))]];
  if (uuid !== null) headers.push(["_id", new Binary(idHeader(uuid).value!)]);
  return Uint8Array.from(
    BSON.serialize({ message: new Binary(value), headers, key: new Binary(enc.encode("key")), ...extra }),
  );
}

Deno.test("serve: the offload write stores one object per _id, exactly once under retries", async (t) => {
  const topic = `up-${crypto.randomUUID().slice(0, 8)}`;
  await withServe({
    publicTopics: "",
    auth: {
      users: USERS,
      permissions: { alice: { [topic]: ["Write", "Read"] }, bob: { [topic]: ["Read"] } },
    },
  }, async (f) => {
    const target = `${f.url}/topic/${topic}+oversized`;
    const value = new Uint8Array(randomBytes(300_000));

    await t.step("posted twice (a retry): 201 both times, one index row, the object as posted", async () => {
      const uuid = crypto.randomUUID();
      const body = uploadBody(uuid, value);
      const first = await hopHttp("POST", target, ALICE, body);
      assert.equal(first.status, 201, JSON.stringify(first));
      assert.deepEqual(BSON.deserialize(unb64(first.body!)), { archive_uuid: uuid, is_client_uuid: true });
      assert.equal(first.headers!["x-housekeeping-outcome"], "stored");
      const second = await hopHttp("POST", target, ALICE, body);
      assert.equal(second.headers!["x-housekeeping-outcome"], "replayed");
      const rows = await f.index.select({ topics: [`${topic}+oversized`] }, { limit: 10 });
      assert.deepEqual(rows.map((r) => r.uuid), [uuid]);
      assert.equal(rows[0]!.partition, -1);
      assert.equal(
        rows[0]!.catalog?.directUpload,
        true,
        "archive-core's direct_upload: posted, not read from Kafka",
      );
      const object = decodeArchiveObject((await f.store.get(rows[0]!.key))!);
      assert.deepEqual(object.value, value);
      assert.deepEqual(object.key, enc.encode("key"));
      assert.deepEqual(object.headers.map((h) => h.key), ["user", "_id"]);
      assert.deepEqual(object.headers[0]!.value, enc.encode("h\0\xff"));
      const back = await hopHttp("GET", `${f.url}/msg/${uuid}/raw_file/v`, ALICE);
      assert.deepEqual(unb64(back.body!), value);
    });

    await t.step("an attempt that died between its claim and its PUT is completed by the retry", async () => {
      const uuid = crypto.randomUUID();
      const body = uploadBody(uuid, value);
      // The first attempt's claim, without its write: the row exists, the object does not.
      await f.ingest.claim([parseUpload(`${topic}+oversized`, body, 1_700_000_000_000n)]);
      const row = (await f.index.byUuid(uuid))!;
      assert.equal(await f.store.head(row.key), null);
      const retry = await hopHttp("POST", target, ALICE, body);
      assert.equal(retry.status, 201);
      assert.equal(retry.headers!["x-housekeeping-outcome"], "replayed");
      const object = decodeArchiveObject((await f.store.get(row.key))!);
      assert.deepEqual(object.value, value);
      assert.equal(object.timestamp, 1_700_000_000_000n);
    });

    await t.step("bad uploads: 400 with archive-api's words; no credentials 401; no Write 403", async () => {
      const cases: [Uint8Array, RegExp][] = [
        [enc.encode("not bson at all"), /Request must be valid BSON/],
        [uploadBody(crypto.randomUUID(), value, { extra: 1 }), /Unsupported key in request body: extra/],
        [BSON.serialize({ headers: [] }), /Missing message key/],
      ];
      for (const [body, expected] of cases) {
        const answer = await hopHttp("POST", target, ALICE, body);
        assert.equal(answer.status, 400);
        assert.match(new TextDecoder().decode(unb64(answer.body!)), expected);
      }
      const anonymous = await fetch(target, { method: "POST", body: uploadBody(crypto.randomUUID(), value) });
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get("www-authenticate")!, /^SCRAM-SHA-512/);
      await anonymous.body?.cancel();
      const bob = await hopHttp("POST", target, BOB, uploadBody(crypto.randomUUID(), value));
      assert.equal(bob.status, 403);
      assert.equal((await f.index.select({ topics: [`${topic}+oversized`] }, { limit: 10 })).length, 2);
    });

    await t.step("no _id: a UUID from topic and content, so a retry is the same message", async () => {
      const body = uploadBody(null, value);
      const first = await hopHttp("POST", target, ALICE, body);
      assert.equal(first.status, 201, JSON.stringify(first));
      const answer = BSON.deserialize(unb64(first.body!));
      assert.equal(answer.is_client_uuid, false);
      assert.equal(first.headers!["x-housekeeping-outcome"], "stored");
      const retry = await hopHttp("POST", target, ALICE, body);
      assert.deepEqual(BSON.deserialize(unb64(retry.body!)), answer);
      assert.equal(retry.headers!["x-housekeeping-outcome"], "replayed");
      const rows = await f.index.select({ topics: [`${topic}+oversized`] }, { limit: 10 });
      assert.equal(rows.length, 3);
      assert.equal(rows.filter((r) => r.uuid === answer.archive_uuid).length, 1);
      const object = decodeArchiveObject(
        (await f.store.get((await f.index.byUuid(answer.archive_uuid))!.key))!,
      );
      assert.deepEqual(object.value, value);
    });
  });
});

Deno.test("serve as a process: listens where told, serves the archive, stops on SIGTERM with 0", async () => {
  const topic = `cli-${crypto.randomUUID().slice(0, 8)}`;
  await withServe({ publicTopics: topic, auth: { users: {}, permissions: {} } }, async (f) => {
    const [uuid] = await f.archive([record(topic, 0, enc.encode("over the wire"), crypto.randomUUID())]);
    const child = spawnLogged(
      ["serve", "--http-port", "0", "--http-host", "127.0.0.1"],
      archiveEnv({
        S3_BUCKET: f.bucket,
        S3_ENDPOINT: serviceEnv("S3_ENDPOINT"),
        DATABASE_URL: serviceEnv("DATABASE_URL"),
        HOUSEKEEPING_DB_SCHEMA: f.schema,
        PUBLIC_TOPICS: topic,
        LOG_LEVEL: "info",
      }),
    );
    try {
      const port = await waitFor("serve to listen", () => {
        const line = child.lines.find((l) => l.includes("serve listening"));
        return Promise.resolve(line === undefined ? undefined : JSON.parse(line).port as number);
      });
      const base = `http://127.0.0.1:${port}`;
      assert.equal(await (await fetch(`${base}/healthz`)).text(), "ok\n");
      const raw = await fetch(`${base}/msg/${uuid}/raw_file/x`);
      assert.equal(await raw.text(), "over the wire");
      const write = await fetch(`${base}/topic/${topic}+oversized`, { method: "POST", body: "x" });
      assert.equal(write.status, 403, "no permissions service: nothing is written");
      await write.body?.cancel();
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal((await child.done).code, 0, child.lines.join("\n"));
  });
});
