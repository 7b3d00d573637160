// Faults (issue "Prove it"): the archiver killed with SIGKILL at random moments and restarted, S3 stopped for 20 s,
// PostgreSQL and the Kafka broker restarted, three archivers in one group with one killed, a restore killed and
// resumed. Each fault runs against a private set of services (tests/support/fault_services.ts), since stopping the shared
// ones would break the tests of everyone else. Each archive is checked against mock-hop's manifests with `verify
// --manifest` and counted directly: one row per message, one receipt per duplicate, one object per row (nothing
// missing, no orphans).
//
// This is the quick form (`make test`). HK_SOAK=1 (`deno task soak`) runs the long form: tens of thousands of
// records and many more kills.
import assert from "node:assert/strict";
import { type Admin, AssignerProtocol } from "kafkajs";
import { toKafkaRecord } from "../../lib/archive/consumer.ts";
import { hex } from "../../lib/format/checksum.ts";
import { contentDigest } from "../../lib/format/identity.ts";
import { createKafka } from "../../lib/kafka/client.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { HEARTBEAT_TOPIC } from "../../lib/mock/messages.ts";
import { type ManifestLine, parseManifest } from "../../lib/mock/manifest.ts";
import type { KafkaRecord } from "../../lib/format/record.ts";
import { sleep } from "../../lib/runtime/retry.ts";
import { openStore } from "../../lib/store/open.ts";
import { endOffsets, partitionsBehind } from "../../lib/topics/topics.ts";
import {
  adminKafka,
  archiveEnv,
  createBucket,
  type LoggedChild,
  runMain,
  schemaSql,
  spawnLogged,
  testIds,
  vetoAllBut,
  waitFor,
} from "../support/archive_helpers.ts";
import { type FaultServices, startFaultServices } from "../support/fault_services.ts";

const SOAK = Deno.env.get("HK_SOAK") === "1";
const SIZE = SOAK
  ? {
    killRecords: 24_000,
    killLive: 8_000,
    kills: 40,
    outageRecords: 8_000,
    outageLater: 2_500,
    scaleRecords: 20_000,
    scaleKills: 4,
    restoreKills: 10,
  }
  : {
    killRecords: 2_500,
    killLive: 1_000,
    kills: 5,
    outageRecords: 1_500,
    outageLater: 500,
    scaleRecords: 8_000,
    scaleKills: 1,
    restoreKills: 3,
  };
// A killed member holds its partitions until the broker gives up on it: the shortest session the broker allows
// keeps a kill loop from spending most of its time waiting for that.
const SHORT_SESSION = ["--session-timeout", "6"];
// Three members with 6 s sessions on a loaded machine (load 9-18 on 2 cores, the broker as starved as they are) were
// expelled from their group again and again (3 to 7 times each in the runs that failed), every expulsion rebalancing
// the group and refusing the commits in flight. With 20 s none was (load 5-12); the killed member's partitions wait
// those 20 s (once in the quick form) before the others take them over.
const SCALE_SESSION = ["--session-timeout", "20"];
// The outages' later traffic goes to new topics: the archiver must find them (during the outage or after it)
// without the test waiting out the default minute between topic listings.
const FAST_REFRESH = ["--topic-refresh", "3"];

// Progress notes on stderr: always in the long form, on request (HK_FAULTS_VERBOSE=1) in the quick one.
const started = Date.now();
const note = (text: string) => {
  if (SOAK || Deno.env.get("HK_FAULTS_VERBOSE")) {
    console.error(`[faults +${(Date.now() - started) / 1000}s] ${text}`);
  }
};

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
const lastLines = (c: LoggedChild, n = 30) => c.lines.slice(-n).join("\n");

/** One fault's archive: its own topics (under `prefix`), consumer group, schema and bucket. */
interface Scenario {
  prefix: string;
  group: string;
  schema: string;
  bucket: string;
  /** Environment of every child: the private services, this scenario's veto list. */
  env: Record<string, string>;
  dir: string;
  manifests: string[];
  services: FaultServices;
}

async function scenario(services: FaultServices, name: string): Promise<Scenario> {
  const { id, group, schema } = testIds(`flt-${name}`);
  const bucket = id.toLowerCase();
  await createBucket(bucket, services.env.S3_ENDPOINT);
  const prefix = `${id}.`;
  const dir = await Deno.makeTempDir({ prefix: `faults-${name}-` });
  // mock-hop's heartbeats are vetoed by name, as Hopskotch's sys.heartbeat is by the default veto list.
  const vetoFile = vetoAllBut(prefix, [`.*\\.${escapeRegex(HEARTBEAT_TOPIC)}`]);
  await Deno.rename(vetoFile, `${dir}/veto.json`);
  return {
    prefix,
    group,
    schema,
    bucket,
    env: archiveEnv({
      ...services.env,
      VETO_FILE: `${dir}/veto.json`,
      // Kept logs (HK_FAULTS_LOGS) are for chasing a failure: group joins are info, topic listings debug.
      ...(Deno.env.get("HK_FAULTS_LOGS") ? { LOG_LEVEL: "debug" } : {}),
    }),
    dir,
    manifests: [],
    services,
  };
}

const archiveArgs = (sc: Scenario, ...extra: string[]) => [
  "archive",
  "--group",
  sc.group,
  "--bucket",
  sc.bucket,
  "--db-schema",
  sc.schema,
  ...extra,
];

interface TrafficOptions {
  partitions: number;
  /** Records per second; unset: as fast as the broker takes them. */
  rate?: number;
}

function mockHopArgs(sc: Scenario, part: string, count: number, seed: number, o: TrafficOptions): string[] {
  const manifest = `${sc.dir}/${part}.jsonl`;
  sc.manifests.push(manifest);
  return [
    "mock-hop",
    ...["--count", String(count), "--seed", String(seed), "--partitions", String(o.partitions)],
    ...["--topic-prefix", `${sc.prefix}${part}.`, "--manifest", manifest, "--max-value-mib", "0.5"],
    // Timestamps from now on, as live traffic has them (mock-hop's topics keep old ones too: retention.ms=-1).
    ...["--base-time", String(Date.now())],
    ...(o.rate !== undefined ? ["--rate", String(o.rate)] : []),
  ];
}

/** Sends mock-hop traffic to `<prefix><part>.*` and keeps its manifest. */
async function mockHop(sc: Scenario, part: string, count: number, seed: number, o: TrafficOptions) {
  const out = await runMain(mockHopArgs(sc, part, count, seed, o), sc.env);
  assert.equal(out.code, 0, `mock-hop failed:\n${out.stderr.slice(-3000)}`);
}

function spawnMockHop(sc: Scenario, part: string, count: number, seed: number, o: TrafficOptions) {
  return spawnLogged(mockHopArgs(sc, part, count, seed, o), sc.env);
}

async function expected(sc: Scenario): Promise<{ messages: number; receipts: number }> {
  const lines: ManifestLine[] = [];
  for (const m of sc.manifests) lines.push(...parseManifest(await Deno.readTextFile(m), m));
  const archived = lines.filter((l) => !l.vetoed);
  return {
    messages: new Set(archived.map((l) => l.uuid)).size,
    receipts: archived.filter((l) => l.duplicate_of !== null).length,
  };
}

async function counts(sc: Scenario): Promise<{ rows: number; receipts: number }> {
  const sql = schemaSql(sc.schema, sc.services.env.DATABASE_URL);
  try {
    const [r] = await sql<{ rows: bigint; receipts: bigint }[]>`
      SELECT (SELECT count(*) FROM messages) AS rows, (SELECT count(*) FROM receipts) AS receipts`;
    return { rows: Number(r!.rows), receipts: Number(r!.receipts) };
  } catch {
    return { rows: 0, receipts: 0 }; // the archiver has not created its tables yet
  } finally {
    await sql.end();
  }
}

const rowCount = async (sc: Scenario) => (await counts(sc)).rows;

async function withAdmin<T>(sc: Scenario, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = adminKafka(sc.services.env.KAFKA_BROKERS).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** The archivable topics of the scenario (heartbeats are vetoed). */
const archivable = (sc: Scenario, all: string[]) =>
  all.filter((t) => t.startsWith(sc.prefix) && !t.endsWith(`.${HEARTBEAT_TOPIC}`)).sort();

/** Partitions (topic:partition) whose committed offset is below the end; call once producers are done. */
function behind(sc: Scenario): Promise<string[]> {
  return withAdmin(sc, async (admin) => {
    const targets = await endOffsets(admin, archivable(sc, await admin.listTopics()));
    return await partitionsBehind(admin, sc.group, targets);
  });
}

/**
 * Waits for `probe` to give a value while the archive moves: fails after `stallSeconds` in which `progress` (what
 * the archivers have done so far, e.g. rows and committed partitions) did not change, or after `capSeconds` in
 * all. A loaded machine makes the archivers slow, not stuck: a fixed total bound failed healthy runs under load,
 * while a stall bound still catches a hang (and sooner than the cap).
 */
async function waitProgressing<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  progress: () => Promise<string>,
  o: { stallSeconds: number; capSeconds: number },
): Promise<T> {
  const start = Date.now();
  let last = await progress();
  let movedAt = Date.now();
  let notedAt = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    const now = await progress();
    if (now !== last) [last, movedAt] = [now, Date.now()];
    if (Date.now() - notedAt >= 10_000) {
      notedAt = Date.now();
      note(`waiting for ${what}: ${last}`);
    }
    const stalled = (Date.now() - movedAt) / 1000 > o.stallSeconds;
    if (stalled || (Date.now() - start) / 1000 > o.capSeconds) {
      const why = stalled ? `no progress for ${o.stallSeconds}s` : `still moving after ${o.capSeconds}s`;
      throw new Error(`${why} waiting for ${what} (last progress: ${last})`);
    }
    await sleep(500);
  }
}

/**
 * The objects stored so far, counted at most every 10 s (a listing of thousands of keys): the archivers' work while
 * a backlog of PUTs drains, which neither rows (claimed before their objects are written) nor commits (after every
 * object of a chunk) show. One PUT at a time over two dozen partitions under load took minutes without either
 * moving. The last count stands while the store cannot be listed (an S3 outage's end).
 */
function objectCounter(sc: Scenario): () => Promise<number> {
  let last = 0;
  let at = 0;
  return async () => {
    if (Date.now() - at < 10_000) return last;
    at = Date.now();
    const store = await openStore(`s3://${sc.bucket}`, { endpoint: sc.services.env.S3_ENDPOINT }).catch(() =>
      null
    );
    if (store === null) return last;
    try {
      let n = 0;
      for await (const _ of store.list()) n++;
      last = n;
    } catch {
      /* the last count stands */
    } finally {
      store.close();
    }
    return last;
  };
}

/** Bounds of the waits on the archivers: quick form, long form. */
const PROGRESS = SOAK ? { stallSeconds: 300, capSeconds: 1800 } : { stallSeconds: 120, capSeconds: 900 };

/**
 * What slowed each archiver, for a failure's message: how often it was expelled from its group (its heartbeats late
 * for its session) and had its commits refused, and whether it ran short of memory (a full collection every second).
 */
function troubles(archivers: LoggedChild[]): string {
  const count = (a: LoggedChild, text: string) => a.lines.filter((l) => l.includes(text)).length;
  return archivers.map((a, i) =>
    `archiver ${i}: expelled ${count(a, "The coordinator is not aware of this member, re-joining")}, ` +
    `commits refused ${count(a, "commit refused because the group is rebalancing")}, ` +
    `memory warnings ${count(a, "memory stays above MEMORY_TARGET_MIB")}`
  ).join("; ");
}

/** Waits until the group has committed every partition up to its end: the archivers have caught up. */
async function waitCaughtUp(sc: Scenario, archivers: LoggedChild[]): Promise<void> {
  let left: string[] = [];
  const objects = objectCounter(sc);
  try {
    await waitProgressing(
      "the archiver to commit every partition to its end",
      async () => {
        // A probe failing (the broker restarting) is "not yet".
        left = await behind(sc).catch(() => ["(offsets unavailable)"]);
        return left.length === 0 ? true : undefined;
      },
      async () => `${await rowCount(sc)} rows, ${await objects()} objects, ${left.length} partitions behind`,
      PROGRESS,
    );
  } catch (e) {
    const logs = archivers.map((a) => `--- archiver (${a.exited ? "exited" : "running"}):\n${lastLines(a)}`);
    throw new Error(
      `${(e as Error).message}; behind: ${left.slice(0, 10).join(", ")}; ${troubles(archivers)}\n${
        logs.join("\n")
      }`,
    );
  }
}

/** Every record once: verify --manifest for each manifest, then rows, receipts and objects counted directly. */
async function assertExactlyOnce(sc: Scenario): Promise<void> {
  for (const m of sc.manifests) {
    const out = await runMain(
      ["verify", "--manifest", m, "--grace", "0", "--quiet", "--bucket", sc.bucket, "--db-schema", sc.schema],
      sc.env,
    );
    assert.equal(
      out.code,
      0,
      `verify --manifest ${m}:\n${out.stdout.slice(-4000)}\n${out.stderr.slice(-2000)}`,
    );
  }
  const want = await expected(sc);
  const got = await counts(sc);
  assert.equal(got.rows, want.messages, "one index row per message");
  assert.equal(got.receipts, want.receipts, "one receipt per duplicate");
  const store = await openStore(`s3://${sc.bucket}`, { endpoint: sc.services.env.S3_ENDPOINT });
  let objects = 0;
  try {
    for await (const _ of store.list()) objects++;
  } finally {
    store.close();
  }
  // The bucket holds this scenario's topics only: every object has its row, so none is an orphan.
  assert.equal(objects, got.rows, "one object per index row: none missing, no orphans");
}

async function cleanup(sc: Scenario): Promise<void> {
  await Deno.remove(sc.dir, { recursive: true }).catch(() => {});
}

const kept = new WeakSet<LoggedChild>();

/**
 * Stops `c` (unless it has exited) and waits for it. With HK_FAULTS_LOGS=DIR its stderr is kept there as
 * `name-*.log`, for chasing a failure: the scenario directories are removed.
 */
async function stopped(c: LoggedChild, name: string, signal: Deno.Signal = "SIGKILL") {
  c.kill(signal);
  const status = await c.done;
  const dir = Deno.env.get("HK_FAULTS_LOGS");
  if (dir && !kept.has(c)) {
    kept.add(c);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/${name}-${Date.now()}.log`, c.lines.join("\n") + "\n");
  }
  return status;
}

// ------------------------------------------------------------------------------------------------- the faults

/** SIGKILL at random moments while traffic keeps arriving; every start resumes from the committed offsets. */
async function killLoop(sc: Scenario): Promise<void> {
  await mockHop(sc, "a", SIZE.killRecords, 101, { partitions: 4 });
  // A slow archiver (one PUT at a time) is killed while it works, not after it is done.
  const args = archiveArgs(sc, ...SHORT_SESSION, "--put-concurrency", "1", "--partitions-concurrency", "2");
  const live = spawnMockHop(sc, "b", SIZE.killLive, 102, { partitions: 3, rate: SOAK ? 40 : 25 });
  try {
    for (let round = 0; round < SIZE.kills; round++) {
      const before = await rowCount(sc);
      const archiver = spawnLogged(args, sc.env);
      try {
        if (Math.random() < 0.25) {
          // Any moment: start-up, joining the group, claiming, writing, committing.
          await sleep(300 + Math.random() * 6000);
        } else {
          // While it archives: after the first new row, within the next 1.5 s.
          const started = Date.now();
          await waitFor("the archiver to archive something", async () => {
            if (archiver.exited || Date.now() - started > 20_000) return true; // nothing left to do: kill anyway
            return (await rowCount(sc)) > before ? true : undefined;
          }, 120);
          await sleep(Math.random() * 1500);
        }
        assert.ok(!archiver.exited, `the archiver exited on its own:\n${lastLines(archiver)}`);
      } finally {
        await stopped(archiver, "kill-archiver");
      }
      note(`kill ${round + 1}/${SIZE.kills}: ${before} -> ${await rowCount(sc)} rows`);
    }
    const sent = await live.done;
    assert.equal(sent.code, 0, `live mock-hop failed:\n${lastLines(live)}`);
  } finally {
    await stopped(live, "kill-mock-hop");
  }
  const finish = await runMain([...args, "--until-end"], sc.env);
  assert.equal(finish.code, 0, finish.stderr.slice(-3000));
  note(`kill loop: final run done, ${await rowCount(sc)} rows`);
  await assertExactlyOnce(sc);
  note("kill loop: verified");
}

/**
 * `service` goes away while the archiver runs and records keep arriving (during the outage when `produceDuring`,
 * else after it); the archiver must wait, retry, resume, and finish. `evidence` must match one of its log lines:
 * proof that it met the outage while it had work.
 */
async function outage(
  services: FaultServices,
  o: {
    name: string;
    service: "minio" | "postgres" | "kafka";
    downMs: number;
    produceDuring: boolean;
    archiverArgs: string[];
    evidence: RegExp;
  },
): Promise<void> {
  const sc = await scenario(services, o.name);
  try {
    await mockHop(sc, "a", SIZE.outageRecords, 201, { partitions: 4 });
    const want = await expected(sc);
    const archiver = spawnLogged(archiveArgs(sc, ...o.archiverArgs), sc.env);
    let down = false;
    try {
      await waitFor("archiving to start", async () => ((await rowCount(sc)) > 0 ? true : undefined), 120);
      const at = await rowCount(sc);
      assert.ok(at < want.messages, "the outage must begin mid-run: make the traffic larger");
      await services.stop(o.service);
      down = true;
      note(`${o.name}: ${o.service} stopped at ${at} of ${want.messages} rows`);
      const since = Date.now();
      if (o.produceDuring) await mockHop(sc, "b", SIZE.outageLater, 202, { partitions: 2 });
      await sleep(Math.max(0, o.downMs - (Date.now() - since)));
      assert.ok(!archiver.exited, `the archiver exited during the outage:\n${lastLines(archiver)}`);
      await services.start(o.service);
      down = false;
      note(`${o.name}: ${o.service} started again`);
      if (!o.produceDuring) await mockHop(sc, "b", SIZE.outageLater, 202, { partitions: 2 });
      await waitCaughtUp(sc, [archiver]);
      note(`${o.name}: caught up`);
      const status = await stopped(archiver, `${o.name}-archiver`, "SIGTERM");
      assert.equal(status.code, 0, `the archiver did not stop cleanly:\n${lastLines(archiver)}`);
      assert.ok(
        archiver.lines.some((l) => o.evidence.test(l)),
        `the archiver never noticed the outage (no log line matches ${o.evidence}):\n${lastLines(archiver)}`,
      );
    } finally {
      await stopped(archiver, `${o.name}-archiver`);
      if (down) await services.start(o.service);
    }
    await assertExactlyOnce(sc);
    note(`${o.name}: verified`);
  } finally {
    await cleanup(sc);
  }
}

interface Member {
  memberId: string;
  partitions: string[];
}

async function members(admin: Admin, group: string): Promise<{ state: string; members: Member[] }> {
  const { groups: [g] } = await admin.describeGroups([group]);
  return {
    state: g!.state,
    members: g!.members.map((m) => {
      const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      const partitions = Object.entries(decoded?.assignment ?? {})
        .flatMap(([topic, ps]) => ps.map((p) => `${topic}:${p}`));
      return { memberId: m.memberId, partitions };
    }),
  };
}

/** Three archivers in one group over 12-partition topics; one is killed while every member still has work. */
async function scaleOut(services: FaultServices): Promise<void> {
  const sc = await scenario(services, "scale");
  try {
    await mockHop(sc, "a", SIZE.scaleRecords, 401, { partitions: 12 });
    // Slow archivers (one PUT at a time each), so that every one of them still has work when one is killed.
    const args = archiveArgs(sc, ...SCALE_SESSION, "--put-concurrency", "1", "--partitions-concurrency", "2");
    const archivers = [0, 1, 2].map(() => spawnLogged(args, sc.env));
    const { messages } = await expected(sc);
    // The members the previous kill was judged on: the next one waits until the group has moved on from them.
    let judged = "";
    try {
      for (let kill = 0; kill < SIZE.scaleKills; kill++) {
        const live = archivers.filter((a) => !a.exited);
        // Kills spread over the run, the first a third of the way in (quick form): mid-flight, not at the start.
        const due = Math.round((messages * (kill + 1)) / (SIZE.scaleKills + 2));
        let rows = 0;
        await waitProgressing(
          `${due} rows`,
          async () => ((rows = await rowCount(sc)) >= due ? true : undefined),
          () => Promise.resolve(`${rows} rows`),
          PROGRESS,
        );
        // Every member has partitions it has not finished: whichever dies, its work must be taken over.
        await withAdmin(
          sc,
          (admin) =>
            waitFor(`${live.length} archivers sharing the partitions, each with work left`, async () => {
              const g = await members(admin, sc.group).catch(() => undefined);
              if (g?.state !== "Stable" || g.members.length !== live.length) return undefined;
              // A killed member stays listed until its session expires, so three names may still be old ones.
              const names = g.members.map((m) => m.memberId).sort().join(" ");
              if (names === judged) return undefined;
              if (g.members.some((m) => m.partitions.length === 0)) return undefined;
              const todo = new Set(await behind(sc));
              assert.ok(
                g.members.every((m) => m.partitions.some((p) => todo.has(p))),
                "a member finished its partitions before the kill: make the traffic larger",
              );
              judged = names;
              return true;
            }, 120),
        );
        assert.ok(archivers.every((a) => !a.exited), "no archiver exits on its own");
        const victim = archivers.splice(Math.floor(Math.random() * archivers.length), 1)[0]!;
        await stopped(victim, "scale-archiver");
        note(`scale-out: killed one of ${live.length} at ${await rowCount(sc)} rows`);
        // The long form keeps three running: a replacement joins while the others take over.
        if (kill < SIZE.scaleKills - 1) archivers.push(spawnLogged(args, sc.env));
      }
      await waitCaughtUp(sc, archivers);
      note("scale-out: caught up");
      for (const a of archivers) {
        const status = await stopped(a, "scale-archiver", "SIGTERM");
        assert.equal(status.code, 0, `a surviving archiver did not stop cleanly:\n${lastLines(a)}`);
      }
    } finally {
      for (const a of archivers) await stopped(a, "scale-archiver");
    }
    await assertExactlyOnce(sc);
  } finally {
    await cleanup(sc);
  }
}

/** Every record of the target topics, read from the beginning. */
async function readTopics(services: FaultServices, topics: string[], total: number): Promise<KafkaRecord[]> {
  const kafka = createKafka(
    { brokers: [services.env.KAFKA_BROKERS!], clientId: "faults-reader", securityProtocol: "PLAINTEXT" },
    silentLogger,
  );
  const consumer = kafka.consumer({ groupId: testIds("flt-reader").group });
  const out: KafkaRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        out.push(toKafkaRecord(topic, partition, message));
        return Promise.resolve();
      },
    });
    await waitFor(
      `${total} restored records`,
      () => Promise.resolve(out.length >= total ? true : undefined),
      180,
    );
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/**
 * A restore of `sc`'s archive killed with SIGKILL at random moments and resumed with its checkpoint: the target
 * topics hold every archived record once, in its own partition, also where a kill fell between the target's
 * acknowledgement of a request and the checkpoint recording it (the resumed run finds those records in the target;
 * tests/integration/restore_test.ts makes that case happen deterministically).
 */
async function restoreKill(sc: Scenario): Promise<void> {
  const checkpoint = `${sc.dir}/restore.checkpoint`;
  const target = "restored.";
  const sql = schemaSql(sc.schema, sc.services.env.DATABASE_URL);
  let rows: { topic: string; partition: number; timestamp: bigint; content_sha256: string }[];
  try {
    rows = await sql<typeof rows>`SELECT topic, partition, timestamp, content_sha256 FROM messages`;
  } finally {
    await sql.end();
  }
  // Each run sends a burst (a second's worth) and then up to ~1.5 s more before its kill, longer on a loaded
  // machine: a rate that makes the whole restore last 6 s per kill keeps every kill before the end.
  const rate = Math.max(50, Math.min(1000, Math.floor(rows.length / (SIZE.restoreKills * 6))));
  const args = [
    "restore",
    ...["--topic-regex", `^${escapeRegex(sc.prefix)}`, "--to-prefix", target, "--create-topics"],
    ...["--checkpoint", checkpoint, "--max-rate", String(rate), "--progress", "none"],
    ...["--bucket", sc.bucket, "--db-schema", sc.schema],
  ];
  const targets = [...new Set(rows.map((r) => `${target}${r.topic}`))];
  /** Records in the target topics (those not created yet hold none). */
  const landed = () =>
    withAdmin(sc, async (admin) => {
      const existing = new Set(await admin.listTopics());
      let n = 0;
      for (const t of targets.filter((t) => existing.has(t))) {
        for (const p of await admin.fetchTopicOffsets(t)) n += Number(p.high) - Number(p.low);
      }
      return n;
    });
  const sent = async () => {
    try {
      return JSON.parse(await Deno.readTextFile(checkpoint)).sent as number;
    } catch {
      return 0; // no checkpoint yet (or, never, a torn one: it is replaced atomically)
    }
  };
  let unrecorded = 0;
  for (let round = 0; round < SIZE.restoreKills; round++) {
    const before = await sent();
    const restore = spawnLogged(args, sc.env);
    try {
      // While it sends: after its checkpoint first moves, within the next second.
      await waitFor("the restore to send something", async () => {
        if (restore.exited) return true;
        return (await sent()) > before ? true : undefined;
      }, 120);
      await sleep(Math.random() * 1000);
    } finally {
      const status = await stopped(restore, "restore");
      // Exited before the kill: a crash (the log says why) or, with a too small archive, a finished restore.
      assert.ok(
        status.signal === "SIGKILL",
        `restore exited (code ${status.code}) before kill ${round + 1}:\n${
          restore.lines.slice(-40).join("\n")
        }`,
      );
    }
    // More in the target than the checkpoint says were sent: a request landed whose acknowledgement the
    // checkpoint never recorded; the next run must recognise it.
    const [recorded, there] = [await sent(), await landed()];
    unrecorded += Math.max(0, there - recorded);
    note(`restore: kill ${round + 1}/${SIZE.restoreKills}: checkpoint ${recorded}, target ${there}`);
  }
  const finish = await runMain(args, sc.env);
  assert.equal(finish.code, 0, finish.stderr.slice(-3000));
  assert.equal(JSON.parse(finish.stdout).complete, true, finish.stdout);

  const total = await landed();
  const restored = await readTopics(sc.services, targets, total);
  // Each record by where it must land and what it carries: source topic, partition, timestamp, content digest.
  const tally = new Map<string, number>();
  for (const r of rows) {
    const id = `${r.topic} ${r.partition} ${r.timestamp} ${r.content_sha256}`;
    tally.set(id, (tally.get(id) ?? 0) + 1);
  }
  for (const r of restored) {
    const id = `${r.topic.slice(target.length)} ${r.partition} ${r.timestamp} ${hex(contentDigest(r))}`;
    tally.set(id, (tally.get(id) ?? 0) - 1);
  }
  const missing = [...tally].filter(([, n]) => n > 0);
  const twice = [...tally].filter(([, n]) => n < 0);
  note(
    `restore: ${rows.length} archived, ${total} in the target, ${missing.length} missing, ${twice.length} twice ` +
      `(${unrecorded} landed unrecorded at a kill)`,
  );
  assert.deepEqual(
    missing.slice(0, 5),
    [],
    `${missing.length} archived records not restored (first 5 shown)`,
  );
  assert.deepEqual(
    twice.slice(0, 5),
    [],
    `${twice.length} records restored twice (${unrecorded} had landed unrecorded at a kill; first 5 shown)`,
  );
  assert.equal(total, rows.length, "the target holds more records than were archived");
}

const KAFKA_OUTAGE_NOTICED = new RegExp(
  '"msg":"(archiving a partition failed; redoing it from the committed offset|consumer restarting after error|' +
    'consumer stopped after an error; rebuilding it|topic refresh failed)".*"error":\\{"message":"[^"]*ECONNREFUSED',
);

// HK_FAULTS_ONLY=kill,s3,pg,kafka,scale,restore runs only those steps (restore needs kill), when chasing one fault.
const only = Deno.env.get("HK_FAULTS_ONLY")?.split(",");
const step = (t: Deno.TestContext, key: string, name: string, fn: () => Promise<void>) =>
  t.step({ name, fn, ignore: only !== undefined && !only.includes(key) });

Deno.test({
  name: `faults${SOAK ? " (soak)" : ""}: kill -9, S3/PostgreSQL/Kafka outages, scale-out, restore kill -9`,
  fn: async (t) => {
    const services = await startFaultServices();
    // This process's own S3 clients (buckets, listings) read credentials from the environment: the private MinIO
    // takes the same ones as the shared services, so the long form runs without `scripts/services.sh env` too.
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]) {
      if (!Deno.env.get(name) && services.env[name]) Deno.env.set(name, services.env[name]!);
    }
    // The restore step restores the kill step's archive: the largest, and checked already.
    const killed = await scenario(services, "kill");
    try {
      const archived = await step(
        t,
        "kill",
        "kill -9 at random moments, restarting each time: every record once, no orphans",
        () => killLoop(killed),
      );
      await step(
        t,
        "s3",
        "S3 stopped for 20 s mid-run: the archiver waits, retries and resumes",
        () =>
          outage(services, {
            name: "s3",
            service: "minio",
            downMs: 20_000,
            produceDuring: true,
            archiverArgs: ["--put-concurrency", "2", ...FAST_REFRESH],
            evidence: /"msg":"PUT [^"]* failed, retrying"/,
          }),
      );
      await step(t, "pg", "PostgreSQL restarted mid-run", () =>
        outage(services, {
          name: "pg",
          service: "postgres",
          downMs: 5_000,
          produceDuring: true,
          archiverArgs: ["--put-concurrency", "2", ...FAST_REFRESH],
          evidence: /"msg":"index [a-z]+ failed, retrying"/,
        }));
      await step(t, "kafka", "Kafka broker restarted mid-run", () =>
        outage(services, {
          name: "kafka",
          service: "kafka",
          downMs: 5_000,
          produceDuring: false,
          archiverArgs: ["--put-concurrency", "1", ...FAST_REFRESH],
          // The archiver's own reaction to the refused broker (kafkajs's lines carry "logger":"kafkajs" whether or
          // not anything failed): a lane redone from the committed offset, the consumer restarted or rebuilt, or the
          // topic refresh failing, each with the connection error.
          evidence: KAFKA_OUTAGE_NOTICED,
        }));
      await step(
        t,
        "scale",
        "scale-out: three archivers in one group, one killed, the others take over",
        () => scaleOut(services),
      );
      await step(
        t,
        "restore",
        "restore killed with SIGKILL and resumed: every record once",
        async () => {
          assert.ok(archived, "needs the archive of the kill -9 step");
          await restoreKill(killed);
        },
      );
    } finally {
      await cleanup(killed);
      await services.down();
    }
  },
});
