// restore's command line: the selection, the target and its connection, and how to run, parsed purely into
// RestoreOptions (the flags' help text is in lib/commands/restore.ts).
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
import { intInRange, LIMITS, nonNegativeBigInt, numberInRange, oneOf, usageError } from "../cli/flags.ts";
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

export const RESTORE_OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...SELECTION_OPTIONS,
  "topic-regex": { type: "string" },
  "uuid-file": { type: "string" },
  "from-offset": { type: "string" },
  "to-offset": { type: "string" },
  rename: { type: "string", multiple: true },
  "to-prefix": { type: "string" },
  "create-topics": { type: "boolean" },
  "allow-loop": { type: "boolean" },
  "dry-run": { type: "boolean" },
  "max-rate": { type: "string" },
  "max-bytes-rate": { type: "string" },
  checkpoint: { type: "string" },
  "on-bad-object": { type: "string" },
  "fetch-concurrency": { type: "string" },
  "max-inflight-mib": { type: "string" },
  progress: { type: "string" },
  ...Object.fromEntries(TARGET_SETTINGS.map((s) => [`target-${s.flag}`, { type: "string" }] as const)),
} as const;

export interface RestoreOptions {
  settings: ResolvedSettings;
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
  const { values, positionals } = parseCommandArgs("restore", argv, RESTORE_OPTIONS, true);
  const configPath = values.config as string | undefined;
  const settings = loadSettings(values, env, configPath, readFile);
  const str = (name: string) => values[name] as string | undefined;
  const maxInflightMib = intInRange(
    flag("max-inflight-mib"),
    str("max-inflight-mib"),
    LIMITS.inflightMib,
    64,
  );
  return {
    settings,
    target: targetSettings(settings, values, env),
    configPath,
    printConfig: values["print-config"] === true,
    filter: restoreFilter(values, positionals, readFile, now),
    naming: targetNaming(values),
    dryRun: values["dry-run"] === true,
    createTopics: values["create-topics"] === true,
    allowLoop: values["allow-loop"] === true,
    onBadObject: oneOf(flag("on-bad-object"), str("on-bad-object"), ["stop", "skip"] as const, "stop"),
    maxRate: numberInRange(flag("max-rate"), str("max-rate"), LIMITS.recordsPerSecond),
    maxBytesRate: numberInRange(flag("max-bytes-rate"), str("max-bytes-rate"), LIMITS.bytesPerSecond),
    checkpoint: str("checkpoint"),
    fetchConcurrency: intInRange(flag("fetch-concurrency"), str("fetch-concurrency"), LIMITS.concurrency, 16),
    maxInflightBytes: maxInflightMib * 2 ** 20,
    progress: oneOf(flag("progress"), str("progress"), ["auto", "bar", "json", "none"] as const, "auto"),
  };
}

const flag = (name: string) => ({ command: "restore", flag: name });

/**
 * The selection flags every command shares (topic, time, uuid, sender, format, partition), plus restore's own:
 * --topic-regex, UUIDs as arguments and in --uuid-file, and the offset range.
 */
function restoreFilter(
  values: Values,
  positionals: string[],
  readFile: (path: string) => string,
  now: bigint,
): SelectFilter {
  const str = (name: string) => values[name] as string | undefined;
  const selection = parseSelection("restore", values, now);
  const topics = selection.topics ?? [];
  for (const t of topics) checkTopicName(t, "--topic", { archive: true });
  const topicRegex = str("topic-regex");
  if (topicRegex === "") {
    throw usageError("restore", "--topic-regex must not be empty (use '.*' for every topic)");
  }
  const uuids = [...(selection.uuids ?? []), ...positionals.map((u) => parseUuid(u, "argument"))];
  const uuidFile = str("uuid-file");
  if (uuidFile !== undefined) uuids.push(...readUuidFile(uuidFile, readFile));
  if (topics.length === 0 && topicRegex === undefined && uuids.length === 0) {
    throw usageError(
      "restore",
      "restore needs a selection: --topic NAME, --topic-regex RE, or UUIDs (--uuid, --uuid-file, arguments); " +
        "use --topic-regex '.*' to restore everything",
    );
  }
  const fromOffset = nonNegativeBigInt(flag("from-offset"), str("from-offset"));
  const toOffset = nonNegativeBigInt(flag("to-offset"), str("to-offset"));
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

/** --rename (repeatable, one target per topic) and --to-prefix. */
function targetNaming(values: Values): TargetNaming {
  const renames = new Map<string, string>();
  for (const text of (values["rename"] as string[] | undefined) ?? []) {
    const [from, to] = parseRename(text);
    if (renames.has(from) && renames.get(from) !== to) {
      throw usageError("restore", `--rename gives topic ${from} two targets: ${renames.get(from)} and ${to}`);
    }
    renames.set(from, to);
  }
  const prefix = values["to-prefix"] as string | undefined;
  if (prefix !== undefined) checkTopicName(`${prefix}x`, "--to-prefix");
  return { renames, prefix };
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
    rename: Object.fromEntries(o.naming.renames),
    "to-prefix": o.naming.prefix ?? null,
    target: Object.fromEntries(TARGET_SETTINGS.map(({ flag }) => [flag, target[flag]])),
    "dry-run": o.dryRun,
    "create-topics": o.createTopics,
    "allow-loop": o.allowLoop,
    "on-bad-object": o.onBadObject,
    "max-rate": o.maxRate ?? null,
    "max-bytes-rate": o.maxBytesRate ?? null,
    checkpoint: o.checkpoint ?? null,
    "fetch-concurrency": o.fetchConcurrency,
    "max-inflight-mib": o.maxInflightBytes / 2 ** 20,
    progress: o.progress,
  };
}
