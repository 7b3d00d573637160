// `archive_20k_headers_s`: the seconds `archive` takes for one batch holding a single record with 20 000 headers,
// from joining the group to the record counted as archived. kafkajs folded a record's headers into an object by
// copying it once per header: 5 000 headers took seconds, 20 000 longer than the consumer's session, so the
// archiver lost its group and decoded the same batch again, never committing it (issue 21). The fold is replaced
// in lib/kafka/kafkajs_internals.ts; this figure is the end-to-end check that it stays linear.
import { wireMessage } from "../../lib/kafka/wire_headers.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import { runArchive } from "./commands.ts";
import { figure, note } from "./report.ts";
import type { Bench } from "./services.ts";
import { createTopics, randomBytes } from "./workload.ts";

export const MANY_HEADERS = 20_000;

const encoder = new TextEncoder();

/**
 * `count` headers as Hopskotch could carry them: distinct keys (kafkajs's slowest case: its object grows with each
 * one), with an `_id` first, a repeated key and null values among them.
 */
export function manyHeaders(count: number): WireHeader[] {
  const headers: WireHeader[] = [{ key: "_id", value: randomBytes(16) }];
  for (let i = 1; i < count; i++) {
    const key = i % 1000 === 0 ? "via" : `x-${i}`;
    headers.push({ key, value: i % 97 === 0 ? null : encoder.encode(String(i)) });
  }
  return headers;
}

/** Archives the record `rounds` times, each into a fresh index schema (else a replay); reports the fastest. */
export async function manyHeadersFigure(b: Bench, rounds: number, timeoutSeconds: number): Promise<void> {
  const topic = `${b.id}-src-headers`;
  await createTopics(b.kafka, [topic]);
  const producer = b.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const record = { key: null, value: encoder.encode("many headers"), headers: manyHeaders(MANY_HEADERS) };
    await producer.send({
      topic,
      acks: -1,
      messages: [wireMessage({ ...record, timestamp: BigInt(Date.now()) }, 0)],
    });
  } finally {
    await producer.disconnect();
  }
  note(`produced one record with ${MANY_HEADERS} headers into ${topic}`);
  let fastest = Infinity;
  for (let round = 1; round <= rounds; round++) {
    const schema = `${b.schema}_headers_${round}`;
    b.schemas.push(schema);
    const run = await runArchive(b, topic, schema, 1, timeoutSeconds);
    fastest = Math.min(fastest, run.workSeconds);
  }
  figure("archive_20k_headers_s", fastest);
}
