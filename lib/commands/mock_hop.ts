// `mock-hop`: realistic, legacy and adversarial Hopskotch traffic, reproducible from a seed, with a manifest of what
// an archive of it must contain. Generation is pure (lib/mock/generate.ts); this file parses flags and does the I/O.
import type { Command, CommandContext } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp } from "../cli/config.ts";
import {
  commandLogger,
  type CommandSettings,
  commandSettings,
  kafkaSettings,
  printConfig,
} from "../cli/services.ts";
import { hkError } from "../runtime/errors.ts";
import { positiveNumber, usageError, type ValueSource } from "../cli/flags.ts";
import {
  optionsHelp,
  optionSpec,
  type OptionTable,
  type OptionValues,
  printableOptions,
  readOptions,
} from "../cli/options.ts";
import { createKafka } from "../kafka/client.ts";
import { resolveCases } from "../mock/cases.ts";
import { FORMAT_TOPICS, HEARTBEAT_TOPIC } from "../mock/messages.ts";
import { createGenerator, type GeneratorOptions } from "../mock/generate.ts";
import { manifestLine } from "../mock/manifest.ts";
import { createTally, renderCaseList } from "../mock/report.ts";
import { defaultTestdataDir, loadSamples } from "../mock/samples.ts";
import { createMockSender, createTopicKeeper } from "../mock/send.ts";
import { type Compression, COMPRESSIONS, type MockRecord } from "../mock/types.ts";
import { commandProgress } from "../cli/progress.ts";
import { sleep } from "../runtime/retry.ts";

const MIB = 1024 * 1024;
const MAX_VALUE_MIB = 30; // below the 32 MiB a broker can be configured to take per batch without trouble
const TOPIC_CHARS = /^[a-zA-Z0-9._-]*$/;
const ANY_COUNT = { min: 1, max: Number.MAX_SAFE_INTEGER };

const MOCK_HOP_OPTIONS = {
  seed: {
    type: "string",
    arg: "N",
    default: 1,
    help: "PRNG seed",
    parse: { int: { min: 0, max: Number.MAX_SAFE_INTEGER } },
  },
  count: {
    type: "string",
    arg: "N",
    default: 1000,
    help: "records to send (default {default}; with --duration: whichever ends first)",
    parse: { int: ANY_COUNT },
  },
  duration: {
    type: "string",
    arg: "SECONDS",
    help: "send for this long (alone: no record limit)",
    parse: (text: string | undefined, source: ValueSource) => positiveNumber(source, text),
  },
  rate: {
    type: "string",
    arg: "N",
    help: "records per second (default: as fast as the broker takes them)",
    parse: (text: string | undefined, source: ValueSource) => positiveNumber(source, text),
  },
  cases: {
    type: "string",
    arg: "LIST",
    default: "default",
    help: [
      "comma-separated case names or groups (current, legacy, duplicate, heartbeat,",
      'adversarial), "default" (the mix) or "all" (with opt-in cases); default: {default}',
    ],
    parse: (text: string) => resolveCases(list(text) ?? []),
  },
  "list-cases": { type: "boolean", help: "print the cases and exit", print: false },
  "topic-prefix": {
    type: "string",
    arg: "P",
    default: "mock.",
    help: 'prefix of every topic (default "{default}")',
    parse: (prefix: string) => {
      if (!TOPIC_CHARS.test(prefix) || prefix.length > 200) {
        throw usageError(
          "mock-hop",
          `--topic-prefix may hold only letters, digits, ".", "_" and "-" (at most 200), got "${prefix}"`,
        );
      }
      return prefix;
    },
  },
  partitions: {
    type: "string",
    arg: "N",
    default: 2,
    help: "partitions of created topics, and records spread over 0..N-1",
    parse: { int: { min: 1, max: 10_000 } },
  },
  manifest: {
    type: "string",
    arg: "FILE",
    help: "write one JSON line per record sent (see below)",
    parse: (file: string | undefined) => {
      if (file === "") throw usageError("mock-hop", "--manifest needs a file name");
      return file;
    },
  },
  "base-time": {
    type: "string",
    arg: "T",
    default: "2026-01-01T00:00:00Z",
    help: "timestamp of the first record: ISO-8601 or ms",
    parse: (text: string) => parseBaseTime(text),
    print: (ms: bigint) => new Date(Number(ms)).toISOString(),
  },
  "time-step": {
    type: "string",
    arg: "MS",
    default: 1000,
    help: "ms between consecutive records' timestamps",
    parse: { int: { min: 1, max: 86_400_000 } },
  },
  realtime: { type: "boolean", help: "timestamps from the wall clock instead (NOT reproducible)" },
  "max-value-mib": {
    type: "string",
    arg: "N",
    default: 4,
    help: `size cap of the multi-MiB case (default {default}, at most ${MAX_VALUE_MIB})`,
    parse: (text: string, source: ValueSource) => positiveNumber(source, text, MAX_VALUE_MIB)!,
  },
  compression: {
    type: "string",
    arg: "LIST",
    help: `codecs to use, from ${COMPRESSIONS.join(", ")} (default all)`,
    parse: (text: string | undefined) => compressionsOf(text),
  },
  "batch-size": {
    type: "string",
    arg: "N",
    default: 500,
    help: "records per produce request at most",
    parse: { int: { min: 1, max: 100_000 } },
  },
  sender: {
    type: "string",
    arg: "NAME",
    default: "mock-hop",
    help: "_sender of hop-client messages",
    parse: (sender: string) => {
      if (sender === "") throw usageError("mock-hop", "--sender must not be empty");
      return sender;
    },
  },
  testdata: {
    type: "string",
    arg: "DIR",
    env: "HOUSEKEEPING_TESTDATA",
    help: "sample payloads (default: the built-in testdata/samples)",
    parse: (dir: string | undefined) => dir ?? defaultTestdataDir(),
  },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(MOCK_HOP_OPTIONS) };

export interface MockHopOptions extends CommandSettings {
  /** The options as the table reads them, for --print-config. */
  own: OptionValues<typeof MOCK_HOP_OPTIONS>;
  listCases: boolean;
  seed: number;
  /** Stop after this many records (null: no limit, --duration alone). */
  count: number | null;
  durationMs: number | null;
  /** Records per second (null: as fast as the broker takes them). */
  rate: number | null;
  cases: string[];
  topicPrefix: string;
  partitions: number;
  manifest: string | null;
  baseTime: bigint;
  timeStepMs: bigint;
  realtime: boolean;
  maxValueBytes: number;
  compressions: Compression[];
  batchSize: number;
  sender: string;
  testdata: string;
}

/** ISO-8601 with a zone (2026-01-01T00:00:00Z) or integer milliseconds since the epoch. */
export function parseBaseTime(text: string): bigint {
  if (/^-?\d+$/.test(text.trim())) return BigInt(text.trim());
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;
  const ms = Date.parse(text);
  if (!iso.test(text) || Number.isNaN(ms)) {
    throw usageError(
      "mock-hop",
      `--base-time must be ISO-8601 with a zone (e.g. 2026-01-01T00:00:00Z) or milliseconds, got "${text}"`,
    );
  }
  return BigInt(ms);
}

function list(text: string | undefined): string[] | undefined {
  return text?.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function compressionsOf(text: string | undefined): Compression[] {
  const names = list(text) ?? [...COMPRESSIONS];
  const bad = names.filter((n) => !(COMPRESSIONS as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0) {
    throw usageError("mock-hop", `--compression takes a list of ${COMPRESSIONS.join(", ")}; got "${text}"`);
  }
  return COMPRESSIONS.filter((c) => names.includes(c));
}

/** Pure: argv + environment (+ config file text) -> options; every bad flag is a USAGE error saying what is wrong. */
export function parseMockHopArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): MockHopOptions {
  const { values } = parseCommandArgs("mock-hop", argv, OPTIONS);
  const settings = commandSettings(values, env, readConfig);
  const own = readOptions("mock-hop", MOCK_HOP_OPTIONS, values, env);
  if (own.realtime && values["base-time"] !== undefined) {
    throw usageError(
      "mock-hop",
      "--realtime takes timestamps from the wall clock: drop --base-time (or --realtime)",
    );
  }
  const duration = own.duration ?? null;
  return {
    ...settings,
    own,
    listCases: own["list-cases"],
    seed: own.seed,
    // --duration alone runs for that long; --count with it stops at whichever comes first.
    count: duration !== null && values.count === undefined ? null : own.count,
    durationMs: duration === null ? null : Math.round(duration * 1000),
    rate: own.rate ?? null,
    cases: own.cases,
    topicPrefix: own["topic-prefix"],
    partitions: own.partitions,
    manifest: own.manifest ?? null,
    baseTime: own["base-time"],
    timeStepMs: BigInt(own["time-step"]),
    realtime: own.realtime,
    maxValueBytes: Math.round(own["max-value-mib"] * MIB),
    compressions: own.compression,
    batchSize: own["batch-size"],
    sender: own.sender,
    testdata: own.testdata,
  };
}

export function generatorOptions(o: MockHopOptions): GeneratorOptions {
  return {
    seed: o.seed,
    cases: o.cases,
    topicPrefix: o.topicPrefix,
    partitions: o.partitions,
    baseTime: o.baseTime,
    timeStepMs: o.timeStepMs,
    ...(o.realtime ? { clock: () => BigInt(Date.now()) } : {}),
    maxValueBytes: o.maxValueBytes,
    sender: o.sender,
    compressions: o.compressions,
  };
}

const HELP = `Usage: housekeeping mock-hop [options]

Produces Hopskotch traffic for testing an archive: current hop-client messages, legacy clients, duplicates,
heartbeats and adversarial records, byte for byte the same for the same --seed and flags (apart from the offsets
the broker assigns, and timestamps under --realtime). --manifest writes one JSON line per record sent: where it
went and how the archive must file it.

What it sends (--list-cases shows every case and its share of the default mix):
  current      hop-client >= 0.8: user headers, then _id (16 bytes), _sender, _test (test messages), _format;
               formats voevent, gcntextnotice, circular, json, blob, avro made from the --testdata samples as
               hop-client serializes them; keyed and test messages
  legacy       hop-client 0.6/0.7 (no _id, no _sender), < 0.6 (JSON envelope, no headers), plain Kafka producers
  duplicate    the same record again (immediately, later, legacy), and an _id reused on other content (clash)
  heartbeat    on <prefix>${HEARTBEAT_TOPIC}: with --topic-prefix "" that is the topic the default veto list names;
               otherwise veto <prefix>${HEARTBEAT_TOPIC} in the archive's veto list
  adversarial  malformed _id (wrong length, null, several), null/empty value and key, non-UTF-8 header values,
               interleaved duplicate header keys, null header values, multi-MiB values, timestamps -1, 0, 9999
Batches are compressed with none, gzip, snappy, lz4 and zstd in seeded runs. Topics are <prefix> + one of
  ${[...new Set([...Object.values(FORMAT_TOPICS), HEARTBEAT_TOPIC])].join(", ")}
created when missing with --partitions partitions, any timestamp allowed and max.message.bytes above
--max-value-mib. Copies and clashes go to their original's partition: only there is their order, and so the
archive's choice of which one is the original, certain.

Options:
${optionsHelp(MOCK_HOP_OPTIONS, { column: 24 })}
${settingsHelp()}

Manifest lines (JSON): seq, topic, partition, offset, timestamp (decimal strings for int64), case, compression,
uuid, uuid_source ("client": the record's _id; "archive": supplied by the archive from topic, timestamp and
content; "clash": its _id already named other content), duplicate_of (null or the {topic, partition, offset} the
archive keeps; this record is a receipt), clash_of, vetoed (heartbeat), lossy (always false: the archive
keeps a non-UTF-8 header key exactly), content_sha256 (the archive's con_content_sha256), value_sha256, value_size,
key_sha256, headers_sha256 (lib/mock/manifest.ts headersSha256). The identities assume an archive that has not
seen these records before.

Examples:
  housekeeping mock-hop --list-cases
  KAFKA_BROKERS=127.0.0.1:9092 housekeeping mock-hop --count 500 --manifest sent.jsonl
  housekeeping mock-hop --seed 7 --cases duplicate,adversarial --rate 20 --duration 60
`;

export const command: Command = {
  name: "mock-hop",
  summary:
    "send reproducible Hopskotch-like test traffic (current, legacy, duplicate, adversarial) with a manifest",
  help: HELP,
  async run(argv, ctx) {
    const options = parseMockHopArgs(argv, ctx.env);
    if (options.listCases) {
      ctx.stdout(renderCaseList());
      return 0;
    }
    if (options.printConfig) return printConfig(ctx, options.settings, extras(options));
    return await runMockHop(options, ctx);
  },
};

/** --print-config's options: as the table reads them, but for what other options change. */
function extras(o: MockHopOptions): Record<string, unknown> {
  return {
    ...printableOptions(MOCK_HOP_OPTIONS, o.own),
    count: o.count,
    ...(o.realtime ? { "base-time": null } : {}),
  };
}

const encoder = new TextEncoder();

async function runMockHop(options: MockHopOptions, ctx: CommandContext): Promise<number> {
  const log = commandLogger(options.settings, ctx);
  const samples = await loadSamples(options.testdata);
  const generator = createGenerator(generatorOptions(options), samples);
  const { settings, warnings } = await kafkaSettings(options.settings, ctx, "housekeeping-mock-hop");
  for (const w of warnings) log.warn(w);
  const kafka = createKafka(settings, log);
  const admin = kafka.admin();
  await admin.connect();
  const closers: Array<() => Promise<void>> = [() => admin.disconnect()];
  const tally = createTally();
  let finished = false;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  try {
    const sender = await createMockSender(kafka, log);
    closers.unshift(() => sender.close());
    const manifest = options.manifest === null ? null : await openManifest(options.manifest);
    if (manifest) closers.unshift(() => manifest.close());
    const topics = createTopicKeeper(admin, options.partitions, options.maxValueBytes, log);
    // The record count is the total when there is one; a --duration run shows counts and rates only.
    const progress = commandProgress(ctx, {
      label: "mock-hop",
      ...(options.count !== null ? { total: options.count } : {}),
    });
    log.info("mock-hop starting", {
      seed: options.seed,
      cases: options.cases,
      samples: samples.digest,
      prefix: options.topicPrefix,
    });

    const offsets = new WeakMap<MockRecord, bigint>();
    const batches = createBatcher(() => generator.next(), Math.max(options.maxValueBytes, MIB));
    while (!ctx.shutdown.aborted) {
      const sent = tally.records;
      if (options.count !== null && sent >= options.count) break;
      if (options.durationMs !== null && elapsed() >= options.durationMs) break;
      const allowance = allowanceNow(options, sent, elapsed());
      if ("waitMs" in allowance) {
        await sleep(allowance.waitMs, ctx.shutdown);
        continue;
      }
      const { batch, bytes } = batches.next(allowance.records);
      await topics.ensure(batch.map((r) => r.topic));
      for (const [record, offset] of await sender.send(batch)) offsets.set(record, offset);
      const lines = batch.map((r) => JSON.stringify(manifestLine(r, (x) => offsets.get(x))) + "\n");
      await manifest?.write(lines.join(""));
      batch.forEach(tally.add);
      progress.tick(batch.length, bytes);
    }
    progress.done({ records: tally.records, valueBytes: tally.valueBytes });
    finished = true;
    return 0;
  } finally {
    for (const close of closers) await close().catch((e) => log.warn("close failed", { error: e }));
    // After a failure the summary still tells what was sent (and is in the manifest) before it.
    if (finished || tally.records > 0) ctx.stdout(tally.render(elapsed()));
  }
}

/** Records the next batch may hold: --batch-size, within --count and, with --rate, what is due by now. */
function allowanceNow(
  options: MockHopOptions,
  sent: number,
  elapsedMs: number,
): { records: number } | { waitMs: number } {
  let records = options.batchSize;
  if (options.rate !== null) {
    // Records due by now: one at t=0, then one every 1/rate s.
    const due = Math.floor((options.rate * elapsedMs) / 1000) + 1 - sent;
    if (due <= 0) return { waitMs: Math.max(1, Math.ceil((sent * 1000) / options.rate - elapsedMs)) };
    records = Math.min(records, due);
  }
  if (options.count !== null) records = Math.min(records, options.count - sent);
  return { records };
}

/** One produce request at a time: records of one compression, within `maxBytes`; the one left over goes next. */
function createBatcher(generate: () => MockRecord, maxBytes: number) {
  let carry: MockRecord | null = null;
  const pull = () => {
    const record = carry ?? generate();
    carry = null;
    return record;
  };
  return {
    next(allowance: number): { batch: MockRecord[]; bytes: number } {
      const batch: MockRecord[] = [pull()];
      let bytes = size(batch[0]!);
      while (batch.length < allowance) {
        const next = pull();
        if (next.compression !== batch[0]!.compression || bytes + size(next) > maxBytes) {
          carry = next;
          break;
        }
        batch.push(next);
        bytes += size(next);
      }
      return { batch, bytes };
    },
  };
}

function size(r: MockRecord): number {
  return (r.value?.length ?? 0) + (r.key?.length ?? 0) +
    r.headers.reduce((sum, h) => sum + h.key.length + (h.value?.length ?? 0), 0);
}

async function openManifest(path: string) {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true, truncate: true });
  } catch (e) {
    throw hkError(
      "MOCK_MANIFEST_UNWRITABLE",
      `cannot write the manifest ${path}: ${(e as Error).message}; fix --manifest`,
    );
  }
  const writer = file.writable.getWriter();
  return {
    write: (text: string) => writer.write(encoder.encode(text)),
    close: () => writer.close(),
  };
}
