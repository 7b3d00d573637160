// An idempotent producer that keeps several produce requests in flight per broker, in order. kafkajs's own
// idempotent producer holds a lock per broker for the whole round trip (one request in flight), so the broker and
// we take turns idling. Kafka keeps the order of an idempotent producer's batches with up to 5 in flight per
// partition: the broker appends a batch only if its first sequence number follows the last one it appended, and
// answers a duplicate of one of the last 5 with the offsets it gave it. So order is the broker's to enforce:
// - sequence numbers are given when a request is handed over (call order), never given back;
// - requests are put on the wire in that order (each waits until the one before is in its connection's queue);
// - a failed request is re-sent with the same sequence numbers, only after every request before it succeeded,
//   so a batch refused as out of order (its predecessor was lost) is accepted once the predecessor is in;
// - the first batch a partition gets goes alone: a broker with no state for our producer on a partition accepts
//   any sequence number, so a later batch must not overtake it (afterwards the broker refuses gaps).
// kafkajs still encodes (lib/kafka/produce_encoder.ts), connects, authenticates and finds the leaders; what this
// takes from its internals is in lib/kafka/kafkajs_internals.ts.
import type { Kafka, RecordMetadata } from "kafkajs";
import { createProducerCluster, PRODUCE_ENCODED } from "../kafka/kafkajs_internals.ts";
import type { WireMessage } from "../kafka/wire_headers.ts";
import type { Logger } from "../runtime/log.ts";
import { sleep } from "../runtime/retry.ts";

export interface TopicBatch {
  topic: string;
  messages: WireMessage[];
}

export interface OrderedProducer {
  /**
   * Sends one request's worth at once, after the requests handed over before it (call it again without waiting);
   * resolves with each partition's base offset once the target acknowledged all of it. A request that fails
   * with a retriable error is re-sent until it succeeds; a fatal error rejects it and every later request.
   */
  send(batch: TopicBatch[]): Promise<RecordMetadata[]>;
  disconnect(): Promise<void>;
}

/** Kafka's bound on an idempotent producer's requests in flight (the batches a broker remembers per producer). */
export const MAX_IN_FLIGHT = 5;

interface Part {
  topic: string;
  partition: number;
  firstSequence: number;
  messages: WireMessage[];
}

const RETRY_FROM_MS = 100;
const RETRY_UP_TO_MS = 5_000;
const SEQUENCE_LIMIT = 2 ** 31;

function isRetriable(e: unknown): boolean {
  return (e as { retriable?: unknown }).retriable === true;
}

const typeOf = (e: unknown) => (e as { type?: unknown }).type;

export async function createOrderedProducer(
  kafka: Kafka,
  { log, timeoutMs = 30_000 }: { log: Logger; timeoutMs?: number },
): Promise<OrderedProducer> {
  const { cluster, eos } = createProducerCluster(kafka);
  await cluster.connect();
  await eos.initProducerId();
  const producerId = eos.getProducerId();
  const producerEpoch = eos.getProducerEpoch();

  const sequences = new Map<string, number>();
  // A partition's first batch, until acknowledged: later requests with that partition wait for it.
  const firstBatches = new Map<string, Promise<unknown>>();
  const knownTopics = new Set<string>();
  let closed = false;
  let fatal: unknown = null;
  // The request before the next one: put on the wire, and settled (acknowledged or failed for good).
  let lastDispatched: Promise<void> = Promise.resolve();
  let lastSettled: Promise<void> = Promise.resolve();

  const keyOf = (topic: string, partition: number) => `${topic}\0${partition}`;

  function partsOf(batch: TopicBatch[]): Part[] {
    const grouped = new Map<string, Part>();
    for (const { topic, messages } of batch) {
      for (const m of messages) {
        const key = keyOf(topic, m.partition);
        let part = grouped.get(key);
        if (part === undefined) {
          part = { topic, partition: m.partition, firstSequence: 0, messages: [] };
          grouped.set(key, part);
        }
        part.messages.push(m);
      }
    }
    for (const [key, part] of grouped) {
      const next = sequences.get(key) ?? 0;
      part.firstSequence = next;
      sequences.set(key, (next + part.messages.length) % SEQUENCE_LIMIT);
    }
    return [...grouped.values()];
  }

  /** Puts the request on the wire (resolving `dispatched` once every broker's part is queued) and awaits it. */
  async function attempt(parts: Part[], dispatched: () => void): Promise<RecordMetadata[]> {
    const byLeader = new Map<string, Part[]>();
    for (const part of parts) {
      const leaders = cluster.findLeaderForPartitions(part.topic, [part.partition]);
      const nodeId = Object.keys(leaders)[0];
      if (nodeId === undefined) {
        throw Object.assign(new Error(`no leader known for ${part.topic} partition ${part.partition}`), {
          retriable: true,
        });
      }
      byLeader.set(nodeId, [...(byLeader.get(nodeId) ?? []), part]);
    }
    const responses: Promise<RecordMetadata[]>[] = [];
    try {
      for (const [nodeId, leaderParts] of byLeader) {
        const broker = await cluster.findBroker({ nodeId });
        const topics = new Map<string, Part[]>();
        for (const p of leaderParts) topics.set(p.topic, [...(topics.get(p.topic) ?? []), p]);
        const topicData = [...topics].map(([topic, ps]) => ({
          topic,
          partitions: ps.map((p) => ({
            partition: p.partition,
            firstSequence: p.firstSequence,
            messages: p.messages,
          })),
        }));
        const encoded = Promise.withResolvers<void>();
        Object.defineProperty(topicData, PRODUCE_ENCODED, {
          value: () => encoded.resolve(),
          enumerable: false,
        });
        const response = broker.produce({
          producerId,
          producerEpoch,
          acks: -1,
          timeout: timeoutMs,
          topicData,
        })
          .then((r) =>
            r.topics.flatMap(({ topicName, partitions }) => partitions.map((p) => ({ topicName, ...p })))
          );
        // Should the request not go through the produce encoding hook (lib/kafka/kafkajs_internals.ts), its answer
        // releases the next one.
        response.then(() => encoded.resolve(), () => encoded.resolve());
        responses.push(response);
        await encoded.promise;
        // From encoding to the connection's queue kafkajs takes microtasks only: a macrotask later it is queued.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } finally {
      dispatched();
      for (const r of responses) r.catch(() => {});
    }
    return (await Promise.all(responses)).flat();
  }

  async function deliver(
    parts: Part[],
    after: { dispatched: Promise<void>; settled: Promise<void>; firsts: Promise<unknown>[] },
    dispatched: () => void,
  ): Promise<RecordMetadata[]> {
    await after.dispatched;
    await Promise.all(after.firsts);
    let retries = 0;
    let earlierSettled = false;
    for (;;) {
      try {
        if (fatal !== null) throw fatal;
        if (closed) throw new Error("the producer was disconnected");
        return await attempt(parts, dispatched);
      } catch (e) {
        dispatched();
        if (fatal !== null || closed) throw fatal ?? e;
        // Refused as out of order while an earlier request was still on its way: re-sent once that one is in. Once
        // every earlier request is acknowledged, out of order means a gap: fatal.
        const outOfOrder = typeOf(e) === "OUT_OF_ORDER_SEQUENCE_NUMBER";
        if (outOfOrder ? earlierSettled : !isRetriable(e)) throw e;
        // A retry goes after every request before it succeeded, with the same sequence numbers.
        await after.settled;
        earlierSettled = true;
        const wait = outOfOrder ? 0 : Math.min(RETRY_UP_TO_MS, RETRY_FROM_MS * 2 ** Math.min(retries, 10));
        retries++;
        log.warn("produce request failed; sending it again", {
          error: (e as Error).message,
          retry: retries,
          waitMs: wait,
        });
        const host = (e as { host?: string }).host, port = (e as { port?: number }).port;
        if (typeOf(e) === undefined && host !== undefined && port !== undefined) {
          cluster.removeBroker({ host, port });
        }
        if (wait > 0) await sleep(wait);
        if (!cluster.isConnected()) await cluster.connect().catch(() => {});
        await cluster.refreshMetadata().catch(() => {});
      }
    }
  }

  return {
    async send(batch) {
      if (fatal !== null) throw fatal;
      const topics = batch.map((b) => b.topic).filter((t) => !knownTopics.has(t));
      // Parts and sequence numbers are taken before any await: requests keep the order of the calls.
      const parts = partsOf(batch);
      const firsts = parts.map((p) => firstBatches.get(keyOf(p.topic, p.partition))).filter((f) =>
        f !== undefined
      );
      const after = { dispatched: lastDispatched, settled: lastSettled, firsts };
      const dispatched = Promise.withResolvers<void>();
      const settled = Promise.withResolvers<void>();
      settled.promise.catch(() => {});
      lastDispatched = dispatched.promise;
      lastSettled = settled.promise;
      const delivery = (async () => {
        if (topics.length > 0) {
          await cluster.addMultipleTargetTopics(topics);
          for (const t of topics) knownTopics.add(t);
        }
        const acknowledged = await deliver(parts, after, dispatched.resolve);
        // Settled only once every earlier request is: a retry waits for all of them.
        await after.settled;
        return acknowledged;
      })();
      for (const p of parts) {
        const key = keyOf(p.topic, p.partition);
        if (!firstBatches.has(key)) firstBatches.set(key, delivery.catch(() => {}));
      }
      try {
        const acknowledged = await delivery;
        settled.resolve();
        return acknowledged;
      } catch (e) {
        fatal ??= e;
        dispatched.resolve();
        settled.reject(e);
        throw e;
      }
    },
    async disconnect() {
      closed = true;
      await cluster.disconnect();
    },
  };
}
