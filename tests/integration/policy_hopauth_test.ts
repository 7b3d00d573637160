// The hopauth policy source against the hopauth stand-in (real SCRAM-SHA-512 on loopback): flags switched at run
// time are taken on refresh, refused or forged SCRAM never yields a policy, an unreachable hopauth leaves the last
// policy in force and says so, and a record of an unlisted topic newer than the last fetch refreshes at once.
import assert from "node:assert/strict";
import { createLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { createHopauthPolicy } from "../../lib/topics/policy_hopauth.ts";
import { parseVeto } from "../../lib/topics/veto.ts";
import { startHopAuthStandIn } from "../support/hopauth_standin.ts";

const veto = parseVeto("topics: [sys.heartbeat]\n", "veto.yaml");
const USER = "archiver";
const PASSWORD = "s3cret-pw";

function capture() {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const raw: string[] = [];
  const log = createLogger({
    level: "debug",
    sink: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });
  return { log, lines, raw };
}

Deno.test("hopauth policy: real SCRAM, flags switched at run time apply on the next refresh", async () => {
  const hopauth = startHopAuthStandIn({
    users: { [USER]: PASSWORD },
    permissions: {},
    topics: { "gcn.circular": { archivable: true, publicly_readable: false, index_archived_text: false } },
  });
  const metrics = createMetrics();
  const { log, raw } = capture();
  try {
    const policy = createHopauthPolicy({
      url: hopauth.url,
      credential: { username: USER, password: PASSWORD },
      veto,
      refreshMs: 60_000,
      log,
      metrics,
    });
    assert.equal(policy.decide("gcn.circular").archive, false, "nothing is archived before the first fetch");
    assert.equal(await policy.refresh(), "ok");
    assert.equal(hopauth.topicListings, 1);
    let d = policy.decide("gcn.circular");
    assert.deepEqual([d.archive, d.public, d.indexText, d.source], [true, false, false, "hopauth"]);
    const version = policy.version;

    hopauth.setTopic("gcn.circular", { publicly_readable: true, index_archived_text: true });
    hopauth.setTopic("lvk.alert", { archivable: true });
    assert.equal(policy.decide("gcn.circular").public, false, "no change before the refresh");
    assert.equal(await policy.refresh(), "ok");
    d = policy.decide("gcn.circular");
    assert.deepEqual([d.archive, d.public, d.indexText], [true, true, true]);
    assert.equal(policy.decide("lvk.alert").archive, true);
    assert.ok(policy.version > version, "a changed policy bumps the version");
    assert.deepEqual(policy.named().sort(), ["gcn.circular", "lvk.alert"]);

    const unchanged = policy.version;
    assert.equal(await policy.refresh(), "ok");
    assert.equal(policy.version, unchanged, "an identical answer is no change");
    assert.equal(metrics.get("policy_refresh_total", { outcome: "ok" }), 3);
    assert.equal(metrics.get("policy_stale"), 0);
    assert.ok(raw.every((l) => !l.includes(PASSWORD)), "the password never reaches the logs");
  } finally {
    await hopauth.close();
  }
});

Deno.test("hopauth policy: a wrong password or a forged server signature yields no policy", async () => {
  const hopauth = startHopAuthStandIn({
    users: { [USER]: PASSWORD },
    permissions: {},
    topics: { "gcn.circular": { archivable: true } },
  });
  // Answers as hopauth would, but cannot sign: it replaces the server's final message with one of its own.
  const forger = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const resp = await fetch(`${hopauth.url}${url.pathname.replace(/^.*\/v1/, "/v1")}`, {
      headers: req.headers,
    });
    const headers = new Headers(resp.headers);
    if (headers.has("authentication-info")) {
      headers.set("authentication-info", `sid=x, data=${btoa(`v=${btoa("not the server's signature")}`)}`);
    }
    headers.delete("content-length");
    return new Response(await resp.arrayBuffer(), { status: resp.status, headers });
  });
  const metrics = createMetrics();
  try {
    const make = (url: string, password: string) =>
      createHopauthPolicy({
        url,
        credential: { username: USER, password },
        veto,
        refreshMs: 60_000,
        log: capture().log,
        metrics,
      });
    const wrong = make(hopauth.url, "not-the-password");
    assert.equal(await wrong.refresh(), "auth_failed");
    assert.equal(wrong.decide("gcn.circular").archive, false);
    await assert.rejects(
      wrong.initial(new AbortController().signal),
      (e: Error & { code?: string }) => e.code === "HOPAUTH_AUTH" && !e.message.includes("not-the-password"),
    );

    const forged = make(`http://127.0.0.1:${forger.addr.port}/hopauth/api`, PASSWORD);
    assert.equal(await forged.refresh(), "auth_failed");
    assert.match(forged.status().lastError!, /server signature/);
    assert.equal(forged.decide("gcn.circular").archive, false, "a forged answer is never taken");
    assert.equal(metrics.get("policy_refresh_total", { outcome: "auth_failed" }), 3);
  } finally {
    await forger.shutdown();
    await hopauth.close();
  }
});

Deno.test("hopauth policy: hopauth stopped keeps the last policy, and the logs and metrics say it is stale", async () => {
  const hopauth = startHopAuthStandIn({
    users: { [USER]: PASSWORD },
    permissions: {},
    topics: { "gcn.circular": { archivable: true, publicly_readable: true } },
  });
  const metrics = createMetrics();
  const { log, lines } = capture();
  const policy = createHopauthPolicy({
    url: hopauth.url,
    credential: { username: USER, password: PASSWORD },
    veto,
    refreshMs: 60_000,
    log,
    metrics,
  });
  assert.equal(await policy.refresh(), "ok");
  assert.equal(policy.decide("gcn.circular").source, "hopauth");
  await hopauth.close();
  assert.equal(await policy.refresh(), "unreachable");
  const d = policy.decide("gcn.circular");
  assert.deepEqual([d.archive, d.public, d.source], [true, true, "hopauth (stale)"]);
  assert.equal(policy.status().stale, true);
  assert.equal(metrics.get("policy_stale"), 1);
  assert.equal(metrics.get("policy_refresh_total", { outcome: "unreachable" }), 1);
  assert.ok(metrics.get("policy_age_seconds") >= 0);
  assert.match(metrics.render(), /^housekeeping_policy_stale 1$/m);
  const warning = lines.find((l) => l.level === "warn" && /last one stays in force/.test(l.msg));
  assert.ok(warning, JSON.stringify(lines));
});

Deno.test("hopauth policy: a record of an unlisted topic newer than the last fetch refreshes at once", async () => {
  const hopauth = startHopAuthStandIn({
    users: { [USER]: PASSWORD },
    permissions: {},
    topics: { "gcn.circular": { archivable: true } },
  });
  try {
    const policy = createHopauthPolicy({
      url: hopauth.url,
      credential: { username: USER, password: PASSWORD },
      veto,
      refreshMs: 60_000,
      log: capture().log,
    });
    await policy.refresh();
    const fetchedAt = policy.status().fetchedAt!;
    await policy.observe("gcn.circular", fetchedAt + 1000);
    await policy.observe("new.topic", fetchedAt - 1000);
    assert.equal(hopauth.topicListings, 1, "a listed topic, or an old record of an unlisted one: no fetch");
    hopauth.setTopic("new.topic", { publicly_readable: true });
    await policy.observe("new.topic+oversized", fetchedAt + 1000);
    assert.equal(hopauth.topicListings, 2, "a recent record of an unlisted topic: fetched at once");
    assert.equal(policy.decide("new.topic").public, true);
  } finally {
    await hopauth.close();
  }
});
