// The lanes (lib/archive/lanes.ts) driven by a fake consumer: batches are handed in by the test, commits and
// resumes are recorded, and each chunk's claim and write finish when the test says so. What is checked is the
// order of effects, so nothing here waits on a clock.
import assert from "node:assert/strict";
import {
  chunkRecords,
  createLanes,
  type LaneBatch,
  type LaneSink,
  type RunState,
} from "../../lib/archive/lanes.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { groupMovedOn } from "../../lib/kafka/rebalance.ts";
import { hkError } from "../../lib/runtime/errors.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import type { KafkaRecord } from "../../lib/format/record.ts";

const TOPIC = "lanes.test";

/** Lets every promise reaction that is ready run (the lanes wait on nothing but promises). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function records(partition: number, from: number, count: number): KafkaRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    topic: TOPIC,
    partition,
    offset: BigInt(from + i),
    timestamp: 0n,
    key: null,
    value: Uint8Array.of(i & 0xff),
    headers: [],
  }));
}

interface FakeBatch extends LaneBatch {
  paused: number;
  resolved: bigint[];
  stale: boolean;
}

function batch(partition: number, from: number, count: number, lastFetched?: bigint): FakeBatch {
  const recs = records(partition, from, count);
  const fake: FakeBatch = {
    topic: TOPIC,
    partition,
    records: () => recs,
    lastFetched: lastFetched ?? recs.at(-1)?.offset ?? null,
    isRunning: () => true,
    isStale: () => fake.stale,
    pause: () => void fake.paused++,
    resolveOffset: (offset) => void fake.resolved.push(offset),
    heartbeat: () => Promise.resolve(),
    paused: 0,
    resolved: [],
    stale: false,
  };
  return fake;
}

/** kafkajs's refusal of a commit from a generation that has ended. */
function rebalancing(): Error {
  return Object.assign(new Error("The group is rebalancing, so a rejoin is needed"), {
    type: "REBALANCE_IN_PROGRESS",
  });
}

/**
 * A consumer group and an ingest under the test's control. A chunk is named "partition@first offset"; its claim
 * and write finish at once unless held (`holdClaims`, `holdWrites`): then `finishClaim`/`finishWrite` finish them.
 */
function harness(options: { holdClaims?: boolean; holdWrites?: boolean } = {}) {
  const commits: string[] = [];
  const resumed: { topic: string; partitions: number[] }[] = [];
  const claims: string[] = [];
  const heldClaims: Held = new Map();
  const heldWrites: Held = new Map();
  let refuse: ((partition: number, next: bigint) => Error | undefined) | undefined;
  let failClaim: ((first: string) => Error | undefined) | undefined;
  const state: RunState = { healthy: true, fatal: undefined, consumerCrashed: false };
  const sink: LaneSink = {
    commit(_topic, partition, next) {
      const refusal = refuse?.(partition, next);
      if (refusal) return Promise.reject(refusal);
      commits.push(`${partition}@${next}`);
      return Promise.resolve();
    },
    resume: (partitions) => void resumed.push(...partitions),
    groupMovedOn,
  };
  const name = (chunk: KafkaRecord[]) => `${chunk[0]!.partition}@${chunk[0]!.offset}`;
  const lanes = createLanes({
    ingest: {
      claim(chunk: KafkaRecord[]) {
        claims.push(name(chunk));
        const failure = failClaim?.(name(chunk));
        if (failure) return Promise.reject(failure);
        if (!options.holdClaims) return Promise.resolve(chunk);
        return hold(heldClaims, name(chunk)).then(() => chunk);
      },
      write(chunk: KafkaRecord[]) {
        if (!options.holdWrites) return Promise.resolve();
        return hold(heldWrites, name(chunk));
      },
    },
    sink,
    metrics: createMetrics(),
    log: silentLogger,
    state,
  });
  return {
    lanes,
    state,
    commits,
    resumed,
    claims,
    refuseCommits(rule: typeof refuse) {
      refuse = rule;
    },
    failClaims(rule: typeof failClaim) {
      failClaim = rule;
    },
    finishClaim: (chunk: string) => finish(heldClaims, "claim", chunk),
    finishWrite: (chunk: string) => finish(heldWrites, "write", chunk),
  };
}

/** Claims or writes waiting for the test, by chunk name, oldest first. */
type Held = Map<string, PromiseWithResolvers<void>[]>;

function hold(held: Held, chunk: string): Promise<void> {
  const step = Promise.withResolvers<void>();
  held.set(chunk, [...(held.get(chunk) ?? []), step]);
  return step.promise;
}

/** Finishes the oldest held step of `chunk` (a chunk fetched again by a new generation has the same name). */
async function finish(held: Held, what: string, chunk: string): Promise<void> {
  const step = held.get(chunk)?.shift();
  assert.ok(step, `no ${what} of chunk ${chunk} is waiting`);
  step.resolve();
  await settle();
}

Deno.test("lanes: chunks finishing out of order are committed strictly in offset order", async () => {
  const h = harness({ holdWrites: true });
  // 2 500 records become chunks at 0, 1000 and 2000; the batch's last entry (2501) is a control record.
  const first = batch(0, 0, 2500, 2501n);
  assert.deepEqual(chunkRecords(first.records()).map((c) => c.length), [1000, 1000, 500]);
  await h.lanes.take(first);
  await settle();
  assert.deepEqual(h.claims, ["0@0", "0@1000", "0@2000"]);
  assert.deepEqual(first.resolved, [2501n]);
  await h.finishWrite("0@2000");
  assert.deepEqual(h.commits, []);
  await h.finishWrite("0@0");
  assert.deepEqual(h.commits, ["0@1000"]);
  // The next batch is taken while the first is still being written; it waits for the first's commits.
  const second = batch(0, 2502, 10);
  let secondTaken = false;
  const taking = h.lanes.take(second).then(() => (secondTaken = true));
  await settle();
  assert.deepEqual(h.claims, ["0@0", "0@1000", "0@2000", "0@2502"]);
  assert.equal(secondTaken, false);
  await h.finishWrite("0@2502");
  assert.deepEqual(h.commits, ["0@1000"]);
  await h.finishWrite("0@1000");
  await taking;
  assert.deepEqual(h.commits, ["0@1000", "0@2000", "0@2500", "0@2502", "0@2512"]);
  assert.deepEqual(h.state, { healthy: true, fatal: undefined, consumerCrashed: false });
});

Deno.test("lanes: a commit refused by a rebalance pauses the partition until the group is rejoined", async () => {
  const h = harness();
  h.refuseCommits((partition) => (partition === 0 ? rebalancing() : undefined));
  const refused = batch(0, 0, 10);
  await h.lanes.take(refused);
  await h.lanes.take(batch(1, 0, 5));
  await settle();
  assert.deepEqual(h.commits, ["1@5"]);
  // kafkajs has fetched on past the refused records: that batch is not taken, the partition is paused.
  const fetchedOn = batch(0, 10, 10);
  await h.lanes.take(fetchedOn);
  assert.equal(fetchedOn.paused, 1);
  assert.deepEqual(h.claims, ["0@0", "1@0"]);
  // Waiting for kafkajs to rejoin is enough: the consumer is not rebuilt, nothing is fatal.
  assert.deepEqual(h.state, { healthy: true, fatal: undefined, consumerCrashed: false });
  h.refuseCommits(undefined);
  h.lanes.groupJoined();
  assert.deepEqual(h.resumed, [{ topic: TOPIC, partitions: [0] }]);
  // The new generation fetches the partition again from its committed offset.
  await h.lanes.take(batch(0, 0, 20));
  await settle();
  assert.deepEqual(h.commits, ["1@5", "0@20"]);
  assert.deepEqual(h.claims, ["0@0", "1@0", "0@0"]);
});

Deno.test("lanes: batches of an old generation are never committed", async () => {
  const h = harness({ holdWrites: true });
  // kafkajs marks the batch stale before its records are written.
  const stale = batch(0, 0, 10);
  await h.lanes.take(stale);
  await settle();
  stale.stale = true;
  await h.finishWrite("0@0");
  assert.deepEqual(h.commits, []);

  // The group moved on while a write was in flight: the new generation starts over from the committed offset,
  // and the old lane's late commit (which could only move the offset back) never happens.
  await h.lanes.take(batch(1, 0, 10));
  await settle();
  h.lanes.groupJoined();
  await h.lanes.take(batch(1, 0, 4));
  await h.finishWrite("1@0"); // the old generation's
  assert.deepEqual(h.commits, []);
  await h.finishWrite("1@0"); // the new generation's
  assert.deepEqual(h.commits, ["1@4"]);
  assert.deepEqual(h.state, { healthy: true, fatal: undefined, consumerCrashed: false });
});

Deno.test("lanes: claims queued behind one in flight when the group moves on are dropped, not made", async () => {
  const h = harness({ holdClaims: true });
  const old = batch(0, 0, 1500);
  await h.lanes.take(old);
  await settle();
  assert.deepEqual(h.claims, ["0@0"]);
  h.lanes.groupJoined();
  await h.finishClaim("0@0");
  // The chunk at 1000 was queued behind the claim in flight: it is never claimed, and nothing of the old
  // generation is committed. (Its dropped claim must not surface as an unhandled rejection either.)
  assert.deepEqual(h.claims, ["0@0"]);
  assert.deepEqual(h.commits, []);
  assert.deepEqual(h.state, { healthy: true, fatal: undefined, consumerCrashed: false });
});

Deno.test("lanes: a consumer that rejoins the group while being replaced ends itself at its next batch", async () => {
  const h = harness();
  await h.lanes.drain();
  const whileDraining = batch(0, 0, 5);
  await h.lanes.take(whileDraining);
  assert.equal(whileDraining.paused, 1);
  h.lanes.groupJoined();
  await assert.rejects(
    h.lanes.take(batch(0, 0, 5)),
    (e: Error & { retriable?: boolean }) => e.retriable === false,
  );
  assert.deepEqual(h.claims, []);
  assert.deepEqual(h.commits, []);
});

Deno.test("lanes: a failed claim stops the lane; fatal errors stop the archiver, others rebuild the consumer", async () => {
  const h = harness();
  h.failClaims((chunk) =>
    chunk === "0@1000" ? hkError("INGEST_UUID_COLLISION", "derived UUID clash") : undefined
  );
  await h.lanes.take(batch(0, 0, 1500));
  await settle();
  // Nothing at or after the failed chunk is committed; the chunk before it is.
  assert.deepEqual(h.commits, ["0@1000"]);
  assert.equal((h.state.fatal as { code?: string }).code, "INGEST_UUID_COLLISION");
  assert.equal(h.state.consumerCrashed, false);

  const retriable = harness();
  retriable.failClaims((chunk) =>
    chunk === "0@0" ? hkError("INDEX_UNREACHABLE", "down", { retriable: true }) : undefined
  );
  await retriable.lanes.take(batch(0, 0, 1500));
  await settle();
  assert.deepEqual(retriable.claims, ["0@0"]);
  assert.deepEqual(retriable.commits, []);
  assert.deepEqual(retriable.state, { healthy: true, fatal: undefined, consumerCrashed: true });
});
