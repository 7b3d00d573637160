// restore's command line: the selection, the target and its connection, and how to run, parsed purely into
// RestoreOptions by one table, RESTORE_OPTIONS, which lib/commands/restore.ts's help shows.
import {
  CONNECTION_OPTIONS,
  parseCommandArgs,
  type ParsedArgs,
  printableSettings,
  type ResolvedSettings,
  type SettingName,
  settingValue,
} from "../cli/config.ts";
import { errorMessage } from "../runtime/errors.ts";
import { nonNegativeBigInt, usageError, type ValueSource } from "../cli/flags.ts";
import {
  optionSpec,
  type OptionTable,
  type OptionValues,
  printableOptions,
  readOptions,
} from "../cli/options.ts";
import type { SelectFilter } from "../index/types.ts";
import { describeSelection, parseSelection, SELECTION_OPTIONS } from "../cli/selection.ts";
import { loadSettings } from "../cli/services.ts";
import { checkTopicName, parseRename, parseUuid, parseUuidFile, type TargetNaming } from "./plan.ts";

/** Target connection settings: `--target-X` flag > `RESTORE_*` variable > the source's (archive's) setting. */
export const TARGET_SETTINGS = [
  { flag: "brokers", env: "RESTORE_KAFKA_BROKERS" },
  { flag: "username", env: "RESTORE_KAFKA_USERNAME" },
  { flag: "password", env: "RESTORE_KAFKA_PASSWORD" },
  { flag: "sasl-mechanism", env: "RESTORE_KAFKA_SASL_MECHANISM" },
  { flag: "security-protocol", env: "RESTORE_KAFKA_SECURITY_PROTOCOL" },
  { flag: "ca-file", env: "RESTORE_KAFKA_CA_FILE" },
  { flag: "hop-auth", env: "RESTORE_HOP_AUTH_FILE" },
] as const satisfies readonly { flag: SettingName; env: string }[];

/**
 * Restore's own options: its selection flags (listed after the shared ones), the target (group "target") and how
 * to run (group "operation"); lib/commands/restore.ts shows them.
 */
export const RESTORE_OPTIONS = {
  "topic-regex": {
    type: "string",
    arg: "RE",
    help: "source topics matching a PostgreSQL regular expression ('.*': everything)",
    print: false, // in "selection"
  },
  "uuid-file": {
    type: "string",
    arg: "FILE",
    help: "UUIDs, one per line ('#' comments allowed); UUIDs may also be given as arguments",
    print: false,
  },
  "from-offset": {
    type: "string",
    arg: "N",
    help: "source offset >= N",
    parse: (text: string | undefined, source: ValueSource) => nonNegativeBigInt(source, text),
    print: false,
  },
  "to-offset": {
    type: "string",
    arg: "N",
    help: "source offset < N",
    parse: (text: string | undefined, source: ValueSource) => nonNegativeBigInt(source, text),
    print: false,
  },
  rename: {
    type: "string",
    multiple: true,
    arg: "FROM=TO",
    help: "publish topic FROM as TO (repeatable)",
    group: "target",
    parse: (texts: string[] | undefined) => renamesOf(texts ?? []),
    print: (renames: Map<string, string>) => Object.fromEntries(renames),
  },
  "to-prefix": {
    type: "string",
    arg: "P",
    help: "publish every other topic as P<topic>",
    group: "target",
    parse: (prefix: string | undefined) => {
      if (prefix !== undefined) checkTopicName(`${prefix}x`, "--to-prefix");
      return prefix;
    },
  },
  "create-topics": {
    type: "boolean",
    help: [
      "create missing target topics with the source topic's partition count (the source",
      "cluster's when it can be asked, else the index's highest partition + 1)",
    ],
    group: "target",
  },
  "allow-loop": {
    type: "boolean",
    help: "allow a target topic that the archiver itself archives (see below)",
    group: "target",
  },
  "dry-run": {
    type: "boolean",
    help: [
      "print what would be sent (records, stored bytes, time span per topic and partition),",
      "and send nothing",
    ],
    group: "operation",
  },
  "max-rate": {
    type: "string",
    arg: "N",
    help: "at most N records per second (0.001 to 1e9)",
    group: "operation",
    parse: { number: "recordsPerSecond" },
  },
  "max-bytes-rate": {
    type: "string",
    arg: "N",
    help: "at most N bytes (key + value + headers) per second (1024 to 1e12)",
    group: "operation",
    parse: { number: "bytesPerSecond" },
  },
  checkpoint: {
    type: "string",
    arg: "FILE",
    help: [
      "record progress in FILE (JSON, replaced atomically after every acknowledged request);",
      "an interrupted restore re-run with the same FILE and selection continues after the last",
      "acknowledged record; records a hard kill left unrecorded are found in the target (it",
      "reads back what lies beyond the end offsets FILE holds) and not sent twice",
    ],
    group: "operation",
  },
  "on-bad-object": {
    type: "string",
    arg: "MODE",
    default: "stop",
    help: [
      "{default} (default): a missing or damaged object stops the restore before it;",
      "skip: report it (log and summary) and go on",
    ],
    group: "operation",
    parse: { oneOf: ["stop", "skip"] },
  },
  "fetch-concurrency": {
    type: "string",
    arg: "N",
    default: 16,
    help: "objects fetched at once",
    group: "operation",
    parse: { int: "concurrency" },
  },
  "max-inflight-mib": {
    type: "string",
    arg: "N",
    default: 64,
    help: "MiB of objects held at once",
    group: "operation",
    parse: { int: "inflightMib" },
  },
  progress: {
    type: "string",
    arg: "MODE",
    default: "auto",
    help: [
      "{default} (default: a bar when stderr is a terminal, else JSON lines every 10 s), bar,",
      "json or none",
    ],
    group: "operation",
    parse: { oneOf: ["auto", "bar", "json", "none"] },
  },
} as const satisfies OptionTable;

type RestoreValues = OptionValues<typeof RESTORE_OPTIONS>;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...SELECTION_OPTIONS,
  ...optionSpec(RESTORE_OPTIONS),
  ...Object.fromEntries(TARGET_SETTINGS.map((s) => [`target-${s.flag}`, { type: "string" }] as const)),
};

export interface RestoreOptions {
  settings: ResolvedSettings;
  /** The options as RESTORE_OPTIONS reads them, for --print-config. */
  own: RestoreValues;
  /** The target cluster's connection settings (the rest of `settings` unchanged). */
  target: ResolvedSettings;
  configPath: string | undefined;
  printConfig: boolean;
  filter: SelectFilter;
  naming: TargetNaming;
  dryRun: boolean;
  createTopics: boolean;
  allowLoop: boolean;
  onBadObject: "stop" | "skip";
  maxRate: number | undefined;
  maxBytesRate: number | undefined;
  checkpoint: string | undefined;
  fetchConcurrency: number;
  maxInflightBytes: number;
  progress: "auto" | "bar" | "json" | "none";
}

type Values = ParsedArgs["values"];

/**
 * Pure apart from `readFile` (config and --uuid-file): argv + environment -> options. `now` (ms) anchors ages
 * such as `--since 24h`.
 */
export function parseRestoreArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = Deno.readTextFileSync,
  now: bigint = BigInt(Date.now()),
): RestoreOptions {
  const { values, positionals } = parseCommandArgs("restore", argv, OPTIONS, true);
  const configPath = values.config as string | undefined;
  const settings = loadSettings(values, env, configPath, readFile);
  const own = readOptions("restore", RESTORE_OPTIONS, values, env);
  return {
    settings,
    own,
    target: targetSettings(settings, values, env),
    configPath,
    printConfig: values["print-config"] === true,
    filter: restoreFilter(values, own, positionals, readFile, now),
    naming: { renames: own.rename, prefix: own["to-prefix"] },
    dryRun: own["dry-run"],
    createTopics: own["create-topics"],
    allowLoop: own["allow-loop"],
    onBadObject: own["on-bad-object"],
    maxRate: own["max-rate"],
    maxBytesRate: own["max-bytes-rate"],
    checkpoint: own.checkpoint,
    fetchConcurrency: own["fetch-concurrency"],
    maxInflightBytes: own["max-inflight-mib"] * 2 ** 20,
    progress: own.progress,
  };
}

/**
 * The selection flags every command shares (topic, time, uuid, sender, format, partition), plus restore's own:
 * --topic-regex, UUIDs as arguments and in --uuid-file, and the offset range.
 */
function restoreFilter(
  values: Values,
  own: RestoreValues,
  positionals: string[],
  readFile: (path: string) => string,
  now: bigint,
): SelectFilter {
  const selection = parseSelection("restore", values, now);
  const topics = selection.topics ?? [];
  for (const t of topics) checkTopicName(t, "--topic", { archive: true });
  const topicRegex = own["topic-regex"];
  if (topicRegex === "") {
    throw usageError("restore", "--topic-regex must not be empty (use '.*' for every topic)");
  }
  const uuids = [...(selection.uuids ?? []), ...positionals.map((u) => parseUuid(u, "argument"))];
  const uuidFile = own["uuid-file"];
  if (uuidFile !== undefined) uuids.push(...readUuidFile(uuidFile, readFile));
  if (topics.length === 0 && topicRegex === undefined && uuids.length === 0) {
    throw usageError(
      "restore",
      "restore needs a selection: --topic NAME, --topic-regex RE, or UUIDs (--uuid, --uuid-file, arguments); " +
        "use --topic-regex '.*' to restore everything",
    );
  }
  const fromOffset = own["from-offset"];
  const toOffset = own["to-offset"];
  if (fromOffset !== undefined && toOffset !== undefined && fromOffset >= toOffset) {
    throw usageError(
      "restore",
      `--from-offset (${fromOffset}) must be below --to-offset (${toOffset}, exclusive)`,
    );
  }
  const { topics: _t, uuids: _u, ...shared } = selection;
  return {
    ...shared,
    ...(topics.length > 0 ? { topics: [...new Set(topics)] } : {}),
    ...(topicRegex !== undefined ? { topicRegex } : {}),
    ...(uuids.length > 0 ? { uuids: [...new Set(uuids)] } : {}),
    ...(fromOffset !== undefined ? { fromOffset } : {}),
    ...(toOffset !== undefined ? { toOffset } : {}),
  };
}

function readUuidFile(path: string, readFile: (path: string) => string): string[] {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw usageError("restore", `cannot read --uuid-file ${path}: ${errorMessage(e)}`);
  }
  const uuids = parseUuidFile(text, path);
  if (uuids.length === 0) throw usageError("restore", `--uuid-file ${path} lists no UUID`);
  return uuids;
}

/** --rename FROM=TO (repeatable): one target per topic. */
function renamesOf(texts: string[]): Map<string, string> {
  const renames = new Map<string, string>();
  for (const text of texts) {
    const [from, to] = parseRename(text);
    if (renames.has(from) && renames.get(from) !== to) {
      throw usageError("restore", `--rename gives topic ${from} two targets: ${renames.get(from)} and ${to}`);
    }
    renames.set(from, to);
  }
  return renames;
}

/** The target's settings: each Kafka setting from --target-X, else RESTORE_*, else the source's value. */
export function targetSettings(
  source: ResolvedSettings,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
): ResolvedSettings {
  const out = { ...source };
  const given = (flag: string, envName: string) => {
    const fromFlag = values[`target-${flag}`];
    if (typeof fromFlag === "string") return { value: fromFlag, source: "flag" as const };
    const fromEnv = env[envName];
    return fromEnv !== undefined && fromEnv !== "" ? { value: fromEnv, source: "env" as const } : undefined;
  };
  // A credential is a pair: a target username must not be combined with the source's password, or vice versa.
  const ownCredentials = given("username", "RESTORE_KAFKA_USERNAME") !== undefined ||
    given("password", "RESTORE_KAFKA_PASSWORD") !== undefined;
  for (const { flag, env: envName } of TARGET_SETTINGS) {
    const own = given(flag, envName);
    if (own !== undefined) out[flag] = own;
    else if (ownCredentials && (flag === "username" || flag === "password")) {
      out[flag] = { value: undefined, source: "unset" };
    }
  }
  return out;
}

/** The broker addresses of a resolved `brokers` setting. */
export function brokersOf(settings: ResolvedSettings): string[] {
  return (settingValue(settings, "brokers") ?? "").split(",").map((b) => b.trim()).filter(Boolean);
}

/** Restore's own options for --print-config (secrets of the target masked). */
export function restoreExtras(o: RestoreOptions): Record<string, unknown> {
  const target = printableSettings(o.target);
  return {
    selection: describeSelection(o.filter),
    ...printableOptions(RESTORE_OPTIONS, o.own),
    target: Object.fromEntries(TARGET_SETTINGS.map(({ flag }) => [flag, target[flag]])),
  };
}
