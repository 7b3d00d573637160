// Resolved settings -> live clients (Kafka, object store, index), shared by every command.
// Start-up failures name the service and the setting to fix; secrets never appear in what is printed.
import type { Kafka } from "kafkajs";
import type { CommandContext } from "./command.ts";
import {
  badSetting,
  logLevelOf,
  type ParsedArgs,
  printableSettings,
  type ResolvedSettings,
  resolveSettings,
  type SettingName,
  SETTINGS,
  settingValue,
} from "./config.ts";
import { errorMessage, hkError, isHkError } from "../runtime/errors.ts";
import { loadHopAuth } from "../kafka/auth_toml.ts";
import { connectIndex } from "../index/database.ts";
import { startEmbeddedIndex } from "../index/embedded.ts";
import { createIndex } from "../index/postgres.ts";
import {
  createKafka,
  type KafkaSettings,
  type SaslMechanism,
  type SecurityProtocol,
} from "../kafka/client.ts";
import { type KeyLayout, parseKeyLayout } from "../format/keys.ts";
import { createLogger, logFormatOf, type Logger } from "../runtime/log.ts";
import { maskSecrets } from "../runtime/secrets.ts";
import { openStore } from "../store/open.ts";
import { verificationOffWarning } from "../runtime/tls.ts";
import type { BlobStore } from "../store/types.ts";
import { loadVeto, type VetoList } from "../topics/veto.ts";
import { parseTopicList, type PublicTopics, type TopicList } from "../topics/public_topics.ts";
import { oneOf, usageError } from "./flags.ts";

export function loadSettings(
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
  configPath: string | undefined,
  readConfig: (path: string) => string,
): ResolvedSettings {
  let text: string | undefined;
  if (configPath !== undefined) {
    try {
      text = readConfig(configPath);
    } catch (e) {
      throw hkError(
        "CONFIG_INVALID",
        `cannot read config file ${configPath}: ${errorMessage(e)}; fix --config`,
      );
    }
  }
  const settings = resolveSettings(values, env, text, configPath);
  // Fail fast on a bad level or layout.
  checkSetting(settings, "log-level", () => logLevelOf(settings));
  checkSetting(settings, "key-layout", () => parseKeyLayout(settings["key-layout"].value ?? "daily"));
  checkS3Endpoint(settings);
  return settings;
}

/**
 * A topic-list setting (--public-topics, --index-text) as `command` resolved it: a bad list is a USAGE error when
 * it was given as the flag, else CONFIG_INVALID naming the variable or config key it came from.
 */
export function topicListSetting(
  command: string,
  settings: ResolvedSettings,
  flag: "public-topics" | "index-text",
): TopicList {
  const { value, source } = settings[flag];
  try {
    return parseTopicList(value, flag);
  } catch (e) {
    const message = (e as Error).message;
    if (source === "flag") throw usageError(command, message);
    const from = source === "env"
      ? flag === "public-topics" ? "PUBLIC_TOPICS" : "HOUSEKEEPING_INDEX_TEXT"
      : `${flag.replace("-", "_")} in the config file`;
    throw hkError("CONFIG_INVALID", `${message} (from ${from})`, { cause: e });
  }
}

/** The public-topics setting as `command` resolved it (see topicListSetting). */
export function publicTopicsSetting(command: string, settings: ResolvedSettings): PublicTopics {
  const topics = topicListSetting(command, settings, "public-topics");
  return { entries: topics.entries, isPublic: topics.has };
}

/** The settings part of every command's options: --config and --print-config with the connection settings. */
export interface CommandSettings {
  settings: ResolvedSettings;
  configPath: string | undefined;
  printConfig: boolean;
}

/** Pure but for reading the --config file: parsed flags + environment -> CommandSettings. */
export function commandSettings(
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string,
): CommandSettings {
  const configPath = values.config as string | undefined;
  return {
    settings: loadSettings(values, env, configPath, readConfig),
    configPath,
    printConfig: values["print-config"] === true,
  };
}

export function printConfig(
  ctx: CommandContext,
  settings: ResolvedSettings,
  extras: Record<string, unknown>,
): number {
  // Command options may hold URLs too (serve's --hopauth-url): none is printed with its password.
  ctx.stdout(
    maskSecrets(JSON.stringify({ settings: printableSettings(settings), options: extras }, null, 2)) + "\n",
  );
  return 0;
}

export function dataDir(settings: ResolvedSettings, env: Record<string, string | undefined>): string {
  const explicit = settingValue(settings, "data-dir");
  if (explicit) return explicit;
  const base = env.XDG_DATA_HOME || `${env.HOME ?? "."}/.local/share`;
  return `${base}/housekeeping`;
}

/**
 * The data directory, created if need be, once it is known to be a writable directory: a file, a path under a file
 * or a read-only place used to fail deep in the store or the embedded index with an errno and no setting to fix.
 */
export async function usableDataDir(
  settings: ResolvedSettings,
  env: Record<string, string | undefined>,
): Promise<string> {
  const dir = dataDir(settings, env);
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = await Deno.makeTempFile({ dir, prefix: ".housekeeping-probe-" });
    await Deno.remove(probe);
    return dir;
  } catch (e) {
    const why = e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory
      ? "is not a directory (or is under a file)"
      : e instanceof Deno.errors.PermissionDenied
      ? "is not writable by this process"
      : `cannot be used: ${errorMessage(e)}`;
    const where = settings["data-dir"].source === "unset"
      ? " (the default; set --data-dir or HOUSEKEEPING_DATA_DIR)"
      : "";
    throw hkError(
      "CONFIG_INVALID",
      `the data directory ${dir}${where} ${why}: fix --data-dir (HOUSEKEEPING_DATA_DIR), or keep the objects ` +
        "and the index elsewhere (--bucket or --store, --database-url)",
      { cause: e },
    );
  }
}

const PROTOCOLS: SecurityProtocol[] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const MECHANISMS: SaslMechanism[] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

type KafkaChoice = "sasl-mechanism" | "security-protocol";

/**
 * A Kafka setting that is one of `allowed` (any case), checked by flags.ts's oneOf with where the value came from:
 * a bad flag is a usage error (exit 2) pointing at the command's help; from the environment, the config file or
 * hop's auth.toml (`settings` null), a configuration error naming its origin.
 */
function kafkaChoice<T extends string>(
  name: KafkaChoice,
  text: string,
  allowed: readonly T[],
  settings: ResolvedSettings | null,
  command: string | undefined,
): T {
  const source = settings?.[name].source;
  const def = SETTINGS.find((d) => d.flag === name);
  const origin = source === "flag"
    ? undefined
    : source === "env"
    ? def?.env ?? name
    : source === "file"
    ? `${def?.file ?? name} in the config file`
    : settings === null
    ? "the hop auth.toml entry"
    : `the default of --${name}`;
  const where = {
    command: command ?? "<command>",
    flag: name,
    ...(origin === undefined ? {} : { env: origin }),
  };
  return oneOf(where, text, allowed, allowed[0]!, { ignoreCase: true });
}

/** An endpoint the AWS SDK cannot parse used to fail on the first request, as an uncoded "Invalid URL". */
function checkS3Endpoint(settings: ResolvedSettings): void {
  const endpoint = settingValue(settings, "s3-endpoint");
  if (endpoint === undefined || endpoint === "") return;
  let protocol: string | undefined;
  try {
    protocol = new URL(endpoint).protocol;
  } catch {
    // not a URL
  }
  if (protocol !== "http:" && protocol !== "https:") {
    throw badSetting(
      settings,
      "s3-endpoint",
      `--s3-endpoint must be an http(s) URL such as https://s3.example.org or http://127.0.0.1:9000, got ` +
        JSON.stringify(maskSecrets(endpoint)),
    );
  }
}

function checkSetting(settings: ResolvedSettings, name: SettingName, check: () => unknown): void {
  try {
    check();
  } catch (e) {
    if (isHkError(e) && settings[name].source === "flag") {
      throw hkError("USAGE", `--${name}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** Credentials: explicit username/password, else the hop auth.toml entry for the broker, else none. */
export async function kafkaSettings(
  settings: ResolvedSettings,
  ctx: Pick<CommandContext, "env" | "command">,
  clientId: string,
  prefix: "" | "RESTORE_" = "",
): Promise<{ settings: KafkaSettings; warnings: string[] }> {
  const { env, command } = ctx;
  const choice = <T extends string>(
    name: KafkaChoice,
    text: string,
    allowed: readonly T[],
    fromSettings = true,
  ) => kafkaChoice(name, text, allowed, fromSettings ? settings : null, command);
  const brokersText = (prefix ? env[`${prefix}KAFKA_BROKERS`] : undefined) ??
    settingValue(settings, "brokers") ?? "";
  const brokers = brokersText.split(",").map((b) => b.trim()).filter(Boolean);
  const username = settingValue(settings, "username");
  const password = settingValue(settings, "password");
  const protocolText = settingValue(settings, "security-protocol");
  const mechanism = choice(
    "sasl-mechanism",
    settingValue(settings, "sasl-mechanism") ?? "SCRAM-SHA-512",
    MECHANISMS,
  );
  const caFile = settingValue(settings, "ca-file");
  const warnings: string[] = [];
  const base = { brokers, clientId, ...(caFile ? { caFile } : {}) };
  if (username !== undefined || password !== undefined) {
    if (!username || !password) {
      throw hkError(
        "CONFIG_INVALID",
        "set both KAFKA_USERNAME and KAFKA_PASSWORD (or neither, to use hop auth.toml)",
      );
    }
    const securityProtocol = protocolText ? choice("security-protocol", protocolText, PROTOCOLS) : "SASL_SSL";
    return { settings: { ...base, securityProtocol, sasl: { mechanism, username, password } }, warnings };
  }
  // An explicit non-SASL protocol needs no credentials: do not let a personal auth.toml without an entry for this
  // broker break, say, a local PLAINTEXT run.
  const explicitHop = settingValue(settings, "hop-auth");
  const wantsSasl = protocolText === undefined || protocolText.toUpperCase().startsWith("SASL_");
  const hop = wantsSasl ? await loadHopAuth({ path: explicitHop, env, brokers }) : null;
  if (hop) {
    warnings.push(...hop.warnings);
    const securityProtocol = protocolText
      ? choice("security-protocol", protocolText, PROTOCOLS)
      : choice("security-protocol", hop.entry.protocol ?? "SASL_SSL", PROTOCOLS, false);
    const hopMechanism = hop.entry.mechanism
      ? choice("sasl-mechanism", hop.entry.mechanism, MECHANISMS, false)
      : mechanism;
    const ca = caFile ?? hop.entry.sslCaLocation;
    return {
      settings: {
        ...base,
        ...(ca ? { caFile: ca } : {}),
        securityProtocol,
        ...(securityProtocol.startsWith("SASL_")
          ? { sasl: { mechanism: hopMechanism, username: hop.entry.username, password: hop.entry.password } }
          : {}),
      },
      warnings,
    };
  }
  const securityProtocol = protocolText ? choice("security-protocol", protocolText, PROTOCOLS) : "PLAINTEXT";
  return { settings: { ...base, securityProtocol }, warnings };
}

export function storeUrl(settings: ResolvedSettings, env: Record<string, string | undefined>): string {
  const explicit = settingValue(settings, "store");
  if (explicit) return explicit;
  const bucket = settingValue(settings, "bucket");
  if (bucket) return `s3://${bucket}`;
  return `file://${dataDir(settings, env)}/objects`;
}

/**
 * The store the settings name, with the S3 endpoint and AWS_CA_BUNDLE (the AWS CLI's variable for a private CA,
 * which the SDK for JavaScript does not read itself); warns when certificate verification is switched off.
 */
export async function openSettingsStore(
  settings: ResolvedSettings,
  env: Record<string, string | undefined>,
  log: Logger,
  options: { createBucket?: boolean } = {},
): Promise<BlobStore> {
  if (!settingValue(settings, "store") && !settingValue(settings, "bucket")) {
    await usableDataDir(settings, env);
  }
  const url = storeUrl(settings, env);
  const endpoint = settingValue(settings, "s3-endpoint");
  const caFile = env.AWS_CA_BUNDLE;
  const unverified = url.startsWith("s3:") && !endpoint?.startsWith("http:")
    ? verificationOffWarning("S3 endpoint's")
    : undefined;
  if (unverified !== undefined) log.warn(unverified);
  return await openStore(url, {
    ...(endpoint ? { endpoint } : {}),
    ...(caFile ? { caFile } : {}),
    ...options,
  });
}

export interface Services {
  log: Logger;
  kafka: Kafka;
  groupId: string;
  store: BlobStore;
  index: ReturnType<typeof createIndex>;
  keyLayout: KeyLayout;
  veto: VetoList;
  close(): Promise<void>;
}

export interface ConnectOptions {
  clientId: string;
  /** Create or upgrade the schema (the archiver does at start; read-only commands do not). */
  migrate?: boolean;
  /** Kafka request timeout in ms (default kafkajs's 30 s). */
  requestTimeoutMs?: number;
  /** Bound on a silent index connection (lib/index/database.ts); for commands whose statements are short. */
  indexSilenceSeconds?: number;
}

export async function openIndex(
  settings: ResolvedSettings,
  env: Record<string, string | undefined>,
  log: Logger,
  options: { silenceTimeoutSeconds?: number } = {},
) {
  const url = settingValue(settings, "database-url");
  const schema = settingValue(settings, "db-schema");
  const closers: (() => Promise<void>)[] = [];
  let target = url;
  let max: number | undefined;
  if (!target && !env.PGHOST) {
    const dir = `${await usableDataDir(settings, env)}/index`;
    const server = await startEmbeddedIndex(dir);
    closers.push(server.close);
    target = server.url;
    max = server.max;
    log.info("using the embedded PostgreSQL (PGlite) index", { dir });
  }
  const sql = await connectIndex(target, {
    onWarning: (message) => log.warn(message),
    ...(schema ? { searchPath: schema } : {}),
    ...(max !== undefined ? { max } : {}),
    // The embedded server is this process's own: no network to go silent, and PGlite's long statements block it.
    ...(max === undefined ? options : {}),
  });
  closers.unshift(() => sql.end({ timeout: 5 }));
  return {
    sql,
    index: createIndex(sql),
    close: async () => {
      for (const c of closers) await c().catch(() => {});
    },
  };
}

/** Read-only commands never migrate: they refuse an index whose schema is not the one this program reads. */
export async function requireCurrentSchema(
  index: Pick<ReturnType<typeof createIndex>, "schemaVersion">,
): Promise<void> {
  const { current, latest } = await index.schemaVersion();
  if (current === latest) return;
  if (current === 0) {
    throw hkError(
      "INDEX_SCHEMA_MISSING",
      "there is no housekeeping index here: check --database-url and --db-schema (or create one with " +
        "`housekeeping db migrate`)",
    );
  }
  if (current < latest) {
    throw hkError(
      "INDEX_SCHEMA_OLD",
      `the index schema is at version ${current}, this housekeeping reads version ${latest}: run ` +
        "`housekeeping db migrate` (or start `housekeeping archive`, which migrates)",
    );
  }
  throw hkError(
    "INDEX_SCHEMA_NEW",
    `the index schema is at version ${current}, newer than this housekeeping knows (${latest}): upgrade housekeeping`,
  );
}

/**
 * The logger a command uses: the injected one (tests), else at the configured level, as JSON lines or, on a
 * terminal, readable lines (LOG_FORMAT decides when set).
 */
export function commandLogger(settings: ResolvedSettings, ctx: CommandContext): Logger {
  if (ctx.log) return ctx.log;
  const format = logFormatOf(ctx.env, ctx.stderrIsTerminal ?? Deno.stderr.isTerminal());
  return createLogger({ level: logLevelOf(settings), format });
}

/** Kafka and the veto list only: for commands that need neither the store nor the index (`topics`). */
export async function openKafka(
  settings: ResolvedSettings,
  ctx: CommandContext,
  clientId: string,
  requestTimeoutMs?: number,
): Promise<{ log: Logger; kafka: Kafka; veto: VetoList; groupId: string }> {
  const log = commandLogger(settings, ctx);
  const veto = await loadVeto(settingValue(settings, "veto"));
  const { settings: ks, warnings } = await kafkaSettings(settings, ctx, clientId);
  for (const w of warnings) log.warn(w);
  return {
    log,
    kafka: createKafka(requestTimeoutMs === undefined ? ks : { ...ks, requestTimeoutMs }, log),
    veto,
    groupId: settingValue(settings, "group") ?? "housekeeping",
  };
}

export async function connectServices(
  settings: ResolvedSettings,
  ctx: CommandContext,
  options: ConnectOptions,
): Promise<Services> {
  const keyLayout = parseKeyLayout(settingValue(settings, "key-layout") ?? "daily");
  const { log, kafka, veto } = await openKafka(settings, ctx, options.clientId, options.requestTimeoutMs);
  const store = await openSettingsStore(settings, ctx.env, log, {
    createBucket: !settingValue(settings, "bucket") && !settingValue(settings, "store"),
  });
  let idx: Awaited<ReturnType<typeof openIndex>> | undefined;
  try {
    idx = await openIndex(
      settings,
      ctx.env,
      log,
      options.indexSilenceSeconds === undefined ? {} : { silenceTimeoutSeconds: options.indexSilenceSeconds },
    );
    if (options.migrate !== false) {
      const { from, to } = await idx.index.migrate();
      if (from !== to) log.info("index schema migrated", { from, to });
    }
  } catch (e) {
    store.close();
    await idx?.close();
    throw e;
  }
  const index = idx.index;
  return {
    log,
    kafka,
    groupId: settingValue(settings, "group") ?? "housekeeping",
    store,
    index,
    keyLayout,
    veto,
    close: async () => {
      store.close();
      await idx.close();
    },
  };
}
