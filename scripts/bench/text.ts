// BENCH_PARTS=text: what indexing the text costs the archiver. GCN-circular-like records of about 1 KiB (hop-client's
// `circular` format: a JSON header and a body of words) are archived into fresh schemas without text indexing and
// with it (HOUSEKEEPING_INDEX_TEXT=*: extraction, to_tsvector and the GIN insert in the row's statement), in
// BENCH_TEXT_ROUNDS rounds (default 5) of one run each, back to back, the order alternating between rounds. One
// pair of runs is at the mercy of a burst of other load (0.82 and 1.00 on two runs of the old single-pair figure):
// the figure is the median of the rounds' ratios, printed with their spread (min, max), and with the ratio of the
// archiver's CPU per record, which other load disturbs far less than the rates.
//   archive_1KiB_text_records_per_s, archive_1KiB_plain_records_per_s (medians),
//   archive_1KiB_text_vs_plain (median ratio), archive_1KiB_text_vs_plain_min, _max,
//   archive_1KiB_{text,plain}_cpu_ms_per_record, archive_1KiB_text_vs_plain_cpu (plain's CPU over text's: >= 1 is
//   text costing nothing)
import { Buffer } from "node:buffer";
import { createPrng } from "../../lib/mock/prng.ts";
import { runArchive } from "./commands.ts";
import { figure, median, note, recordsPerSecond } from "./report.ts";
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
  const rounds = Math.max(1, Number(Deno.env.get("BENCH_TEXT_ROUNDS") ?? "5"));
  const topic = `${b.id}-src-text`;
  await createTopics(b.kafka, [topic]);
  await produceCirculars(b, topic, count);
  note(`text: ${count} circulars of ~1 KiB in ${topic}, ${rounds} rounds of plain and text runs interleaved`);
  const run = async (name: string, env: Record<string, string>) => {
    const schema = `${b.schema}_text_${name}`;
    b.schemas.push(schema);
    const child = await runArchive(b, topic, schema, count, options.timeoutSeconds, env);
    return {
      rate: recordsPerSecond({ records: count, valueBytes: 0, seconds: child.workSeconds, cpuSeconds: 0 }),
      cpuMsPerRecord: child.workCpuSeconds * 1000 / count,
    };
  };
  const results: { plain: Awaited<ReturnType<typeof run>>; text: Awaited<ReturnType<typeof run>> }[] = [];
  for (let i = 0; i < rounds; i++) {
    const plainRun = () => run(`plain${i}`, {});
    const textRun = () => run(`text${i}`, { HOUSEKEEPING_INDEX_TEXT: "*" });
    let plain, text;
    if (i % 2 === 0) {
      plain = await plainRun();
      text = await textRun();
    } else {
      text = await textRun();
      plain = await plainRun();
    }
    note(`text round ${i + 1}: plain ${plain.rate.toFixed(0)}/s, text ${text.rate.toFixed(0)}/s`);
    results.push({ plain, text });
  }
  // Each ratio from runs taken back to back, the order alternating between rounds: load arriving or leaving
  // during a round weighs on both sides alike.
  const ratios = results.map((r) => r.text.rate / r.plain.rate);
  // CPU per record is what other load disturbs least: text's extra cost in the archiver itself.
  const cpuRatios = results.map((r) => r.plain.cpuMsPerRecord / r.text.cpuMsPerRecord);
  figure("archive_1KiB_text_records_per_s", median(results.map((r) => r.text.rate)), 0);
  figure("archive_1KiB_plain_records_per_s", median(results.map((r) => r.plain.rate)), 0);
  figure("archive_1KiB_text_vs_plain", median(ratios));
  figure("archive_1KiB_text_vs_plain_min", Math.min(...ratios));
  figure("archive_1KiB_text_vs_plain_max", Math.max(...ratios));
  figure("archive_1KiB_text_cpu_ms_per_record", median(results.map((r) => r.text.cpuMsPerRecord)), 3);
  figure("archive_1KiB_plain_cpu_ms_per_record", median(results.map((r) => r.plain.cpuMsPerRecord)), 3);
  figure("archive_1KiB_text_vs_plain_cpu", median(cpuRatios));
}
