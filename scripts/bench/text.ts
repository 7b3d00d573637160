// BENCH_PARTS=text: what indexing the text costs the archiver. GCN-circular-like records of about 1 KiB (hop-client's
// `circular` format: a JSON header and a body of words) are archived into fresh schemas without text indexing, with
// it (HOUSEKEEPING_INDEX_TEXT=*: extraction, to_tsvector and the GIN insert in the row's statement), and without
// again; the figure divides the rate with text by the mean of the two without.
//   archive_1KiB_text_records_per_s, archive_1KiB_plain_records_per_s, archive_1KiB_text_vs_plain
import { Buffer } from "node:buffer";
import { createPrng } from "../../lib/mock/prng.ts";
import { runArchive } from "./commands.ts";
import { figure, note, recordsPerSecond } from "./report.ts";
import type { Bench } from "./services.ts";
import { createTopics, PARTITIONS } from "./workload.ts";

const RECORDS = 6_000;
const WORDS = [
  "GRB",
  "afterglow",
  "optical",
  "counterpart",
  "Swift",
  "XRT",
  "UVOT",
  "Fermi",
  "GBM",
  "LAT",
  "trigger",
  "burst",
  "localization",
  "candidate",
  "observed",
  "telescope",
  "magnitude",
  "redshift",
  "spectrum",
  "neutrino",
  "IceCube",
  "LIGO",
  "Virgo",
  "KAGRA",
  "gravitational",
  "wave",
  "kilonova",
  "supernova",
  "transient",
  "follow-up",
  "report",
  "detection",
  "upper",
  "limit",
  "flux",
  "photometry",
  "J2000",
  "RA",
  "Dec",
  "error",
  "circle",
  "arcsec",
  "band",
];

/** A circular of about 1 KiB as hop-client sends it: json.dumps({"header": {...}, "body": ...}). */
function circular(i: number, words: () => string): Uint8Array {
  const body: string[] = [];
  while (body.join(" ").length < 800) body.push(words());
  const value = {
    header: {
      title: "GCN CIRCULAR",
      number: String(40000 + i),
      subject: `GRB ${250000 + i}A: ${words()} ${words()}`,
      date: "25/01/01 00:00:00 GMT",
      from: "Bench Observer at Example Observatory <bench@example.org>",
    },
    body: body.join(" "),
  };
  return new TextEncoder().encode(JSON.stringify(value));
}

async function produceCirculars(b: Bench, topic: string, count: number): Promise<void> {
  const prng = createPrng(24);
  const words = () => prng.pick(WORDS);
  const producer = b.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let first = 0; first < count; first += 1000) {
      const messages = [];
      for (let i = first; i < Math.min(count, first + 1000); i++) {
        messages.push({
          partition: i % PARTITIONS,
          value: Buffer.from(circular(i, words)),
          headers: { _id: Buffer.from(crypto.getRandomValues(new Uint8Array(16))), _format: "circular" },
        });
      }
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

export async function textFigures(
  b: Bench,
  options: { scale: number; timeoutSeconds: number },
): Promise<void> {
  const count = Math.max(1, Math.round(RECORDS * options.scale));
  const topic = `${b.id}-src-text`;
  await createTopics(b.kafka, [topic]);
  await produceCirculars(b, topic, count);
  note(`text: ${count} circulars of ~1 KiB in ${topic}`);
  const rate = async (name: string, env: Record<string, string>) => {
    const schema = `${b.schema}_text_${name}`;
    b.schemas.push(schema);
    const run = await runArchive(b, topic, schema, count, options.timeoutSeconds, env);
    return recordsPerSecond({ records: count, valueBytes: 0, seconds: run.workSeconds, cpuSeconds: 0 });
  };
  const plain1 = await rate("plain1", {});
  const text = await rate("indexed", { HOUSEKEEPING_INDEX_TEXT: "*" });
  const plain2 = await rate("plain2", {});
  const plain = (plain1 + plain2) / 2;
  figure("archive_1KiB_text_records_per_s", text, 0);
  figure("archive_1KiB_plain_records_per_s", plain, 0);
  figure("archive_1KiB_text_vs_plain", text / plain);
}
