// `status` against a real archive: counts, bytes, times and receipts per window from PostgreSQL, lag from Kafka.
import assert from "node:assert/strict";
import {
  computeLag,
  parseStatusArgs,
  parseWindows,
  renderStatus,
  totalsOf,
  type WindowReport,
} from "../../lib/commands/status.ts";
import { startHopAuthStandIn } from "../support/hopauth_standin.ts";
import {
  type AdminArchive,
  hopHeaders,
  hopUuid,
  runInProcess,
  text,
  withArchive,
} from "../support/admin_fixture.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

Deno.test("status: windows and arguments", () => {
  assert.deepEqual(parseWindows(["1h,24h", "all"]), [
    { name: "1h", ms: 3_600_000n },
    { name: "24h", ms: 86_400_000n },
    { name: "all", ms: null },
  ]);
  assert.deepEqual(parseStatusArgs([], {}).windows.map((w) => w.name), ["1h", "24h", "all"]);
  const o = parseStatusArgs(["--window", "7d", "--topic", "a", "--skip-lag", "--json"], {});
  assert.deepEqual(o.windows, [{ name: "7d", ms: 604_800_000n }]);
  assert.deepEqual(o.topics, ["a"]);
  assert.equal(o.lag, false);
  assert.equal(o.json, true);
  for (const bad of [["--window", "0h"], ["--window", "week"], ["--window", ","], ["--nope"]]) {
    assert.throws(
      () => parseStatusArgs(bad, {}),
      (e: Error & { code?: string }) => e.code === "USAGE",
      bad.join(" "),
    );
  }
});

Deno.test("status: lag counts from the committed offset, or from the oldest record kept", () => {
  const ends = [
    { topic: "t", partition: 0, start: 0n, end: 10n },
    { topic: "t", partition: 1, start: 5n, end: 10n },
    { topic: "t", partition: 2, start: 5n, end: 10n },
    { topic: "t", partition: 3, start: 0n, end: 0n },
  ];
  const lag = computeLag(ends, new Map([["t:0", 7n], ["t:1", -1n], ["t:2", 2n]]));
  assert.deepEqual(lag.map((p) => [p.committed, p.lag]), [[7n, 3n], [null, 5n], [2n, 5n], [null, 0n]]);
});

Deno.test("status: totals and the text rendering", () => {
  const topics = [
    {
      topic: "a",
      messages: 2n,
      bytes: 2048n,
      earliest: 5n,
      latest: 9n,
      lastArchivedAt: 100n,
      duplicates: 1n,
    },
    {
      topic: "b",
      messages: 1n,
      bytes: 10n,
      earliest: 3n,
      latest: 4n,
      lastArchivedAt: 200n,
      duplicates: 0n,
    },
  ];
  const totals = totalsOf(topics);
  assert.deepEqual(totals, {
    topics: 2,
    messages: 3n,
    bytes: 2058n,
    earliest: 3n,
    latest: 9n,
    lastArchivedAt: 200n,
    duplicates: 1n,
  });
  const windows: WindowReport[] = [{ window: "all", since: null, topics, totals }];
  const out = renderStatus(windows, { group: "g", error: "broker down" });
  assert.match(out, /== all time/);
  assert.match(out, /^TOTAL \(2 topics\)\s+3\s+2\.0 KiB\s+1970-01-01 00:00:00Z/m);
  assert.match(out, /lag unavailable: broker down/);
});

Deno.test("status: per-topic windows, duplicates and consumer-group lag of a real archive", async () => {
  await withArchive("status", { backend: "fs", topics: ["circular", "notice"], partitions: 2 }, async (a) => {
    const [circular, notice] = a.topics as [string, string];
    const now = Date.now();
    const times = [10 * MINUTE, 20 * MINUTE, 30 * MINUTE, 5 * HOUR, 6 * HOUR, 72 * HOUR].map((ago) =>
      now - ago
    );
    await a.produce(
      circular,
      times.map((timestamp, i) => ({
        value: text(`circular ${i}`),
        headers: hopHeaders(i + 1),
        timestamp,
        partition: i % 2,
      })),
    );
    // The same message delivered again: stored once, counted as a duplicate receipt.
    await a.produce(circular, [{ value: text("circular 0"), headers: hopHeaders(1), timestamp: times[0]! }]);
    await a.produce(notice, [
      { value: text("notice 0"), timestamp: now - 240 * HOUR },
      { value: text("notice 1"), timestamp: now - 230 * HOUR },
    ]);
    await a.archive();
    // Not archived yet: lag.
    await a.produce(notice, [{ value: text("late 0"), partition: 0 }, {
      value: text("late 1"),
      partition: 1,
    }]);

    const run = await a.run(["status", "--json"]);
    assert.equal(run.code, 0, run.stdout);
    const status = JSON.parse(run.stdout);
    const stat = (window: string, topic: string) =>
      status.windows.find((w: { window: string }) => w.window === window).topics.find((
        t: { topic: string },
      ) => t.topic === topic);
    assert.equal(stat("1h", circular).messages, "3");
    assert.equal(stat("1h", circular).duplicates, "1");
    assert.equal(stat("1h", notice), undefined);
    assert.equal(stat("24h", circular).messages, "5");
    assert.equal(stat("all", circular).messages, "6");
    assert.equal(stat("all", notice).messages, "2");
    assert.equal(stat("all", circular).earliest, String(times[5]));
    assert.equal(stat("all", circular).latest, String(times[0]));
    const rows = (await a.run(["query"])).stdout.trim().split("\n").map((l) => JSON.parse(l));
    const bytes = (topic: string) => rows.filter((r) => r.topic === topic).reduce((n, r) => n + r.size, 0);
    assert.equal(stat("all", circular).bytes, String(bytes(circular)));
    const all = status.windows.find((w: { window: string }) => w.window === "all");
    assert.equal(all.totals.messages, "8");
    assert.equal(all.totals.topics, 2);
    assert.equal(all.totals.bytes, String(bytes(circular) + bytes(notice)));
    assert.ok(BigInt(all.totals.lastArchivedAt) >= BigInt(now - 5 * MINUTE), "archived moments ago");
    assert.deepEqual(rows.find((r) => r.uuid === hopUuid(1)).topic, circular);

    assert.equal(status.lag.group, a.group);
    assert.equal(status.lag.total, "2");
    const lagOf = (topic: string) =>
      status.lag.partitions.filter((p: { topic: string }) => p.topic === topic).map((p: { lag: string }) =>
        p.lag
      );
    assert.deepEqual(lagOf(circular), ["0", "0"]);
    assert.deepEqual(lagOf(notice), ["1", "1"]);

    const textRun = await a.run(["status"]);
    assert.equal(textRun.code, 0);
    assert.match(textRun.stdout, /== last 1h/);
    assert.match(textRun.stdout, /== last 24h/);
    assert.match(textRun.stdout, /== all time/);
    assert.match(textRun.stdout, /^TOTAL \(2 topics\)\s+8\s/m);
    assert.match(textRun.stdout, new RegExp(`lag per partition`));

    const one = JSON.parse((await a.run(["status", "--json", "--topic", notice, "--window", "all"])).stdout);
    assert.deepEqual(one.windows[0].topics.map((t: { topic: string }) => t.topic), [notice]);
    assert.deepEqual(one.lag.partitions.map((p: { topic: string }) => p.topic), [notice, notice]);
    await lagFollowsHopauth(a, circular, notice);
    const noLag = JSON.parse((await a.run(["status", "--json", "--skip-lag"])).stdout);
    assert.equal(noLag.lag, null);

    // Kafka unreachable: the index part is still reported, the exit status says something is wrong.
    const down = await a.run(["status", "--json", ...a.flags, "--brokers", "127.0.0.1:1"], { flags: false });
    assert.equal(down.code, 1);
    const partial = JSON.parse(down.stdout);
    assert.equal(partial.windows.length, 3);
    assert.ok(typeof partial.lag.error === "string" && partial.lag.error.length > 0);
  });
});

/** With --hopauth-url the lag counts what hopauth lets the archive archive: `notice`, not archivable, is no lag. */
async function lagFollowsHopauth(a: AdminArchive, circular: string, notice: string): Promise<void> {
  const hopauth = startHopAuthStandIn({
    users: { archiver: "pw" },
    permissions: {},
    topics: { [circular]: { archivable: true }, [notice]: { archivable: false } },
  });
  try {
    const env = {
      ...a.env,
      HOPAUTH_API_URL: hopauth.url,
      HOPAUTH_USERNAME: "archiver",
      HOPAUTH_PASSWORD: "pw",
    };
    const run = await runInProcess(["status", "--json", "--window", "all", ...a.flags], env);
    assert.equal(run.code, 0, run.stdout);
    const lag = JSON.parse(run.stdout).lag;
    assert.equal(lag.policy, "hopauth");
    assert.deepEqual(lag.partitions.map((p: { topic: string }) => p.topic), [circular, circular]);
    assert.equal(lag.total, "0", "the notice records hopauth does not let the archive take are no lag");
    assert.ok(lag.excludedCount >= 1);
    assert.deepEqual(lag.excluded, [], "listed only when --topic names them");
    const named = await runInProcess(["status", "--json", "--topic", notice, ...a.flags], env);
    assert.deepEqual(JSON.parse(named.stdout).lag.excluded, [{
      topic: notice,
      reason: "not_archivable",
      detail: "not archivable in hopauth",
    }]);
    const table = (await runInProcess(["status", "--topic", notice, ...a.flags], env)).stdout;
    assert.match(
      table,
      new RegExp(`^${notice.replaceAll(".", "\\.")}\\s+-\\s+-\\s+-\\s+not archived: not_archivable$`, "m"),
    );
    assert.match(table, /readable topics? (is|are) not archived by the hopauth policy/);
  } finally {
    await hopauth.close();
  }
}
