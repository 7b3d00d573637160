// One options resolver for every command: flag > environment > YAML config file (--config) > defaults.
// The table below is the single source of truth for names, so --help, --print-config and the README agree.
import { parseArgs } from "node:util";
import YAML from "yaml";
import { hkError, type HousekeepingError } from "../runtime/errors.ts";
import { usageError } from "./flags.ts";
import { type LogLevel, parseLogLevel } from "../runtime/log.ts";
import { maskSecrets } from "../runtime/secrets.ts";

export interface SettingDef {
  /** Flag name without dashes; also the key in `--print-config` output. */
  flag: string;
  env?: string;
  /** Dotted path in the YAML config file. */
  file: string;
  default?: string;
  secret?: boolean;
  help: string;
}

export const SETTINGS = [
  {
    flag: "brokers",
    env: "KAFKA_BROKERS",
    file: "kafka.brokers",
    default: "kafka.scimma.org:9092",
    help: "Kafka bootstrap servers, comma separated",
  },
  {
    flag: "group",
    env: "KAFKA_GROUP_ID",
    file: "kafka.group",
    default: "housekeeping",
    help: "consumer group id (processes sharing it share the partitions)",
  },
  {
    flag: "username",
    env: "KAFKA_USERNAME",
    file: "kafka.username",
    help: "SASL username (else taken from the hop auth.toml)",
  },
  { flag: "password", env: "KAFKA_PASSWORD", file: "kafka.password", secret: true, help: "SASL password" },
  {
    flag: "sasl-mechanism",
    env: "KAFKA_SASL_MECHANISM",
    file: "kafka.sasl_mechanism",
    default: "SCRAM-SHA-512",
    help: "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN",
  },
  {
    flag: "security-protocol",
    env: "KAFKA_SECURITY_PROTOCOL",
    file: "kafka.security_protocol",
    help: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: SASL_SSL with credentials, else PLAINTEXT)",
  },
  {
    flag: "ca-file",
    env: "KAFKA_CA_FILE",
    file: "kafka.ca_file",
    help: "PEM file of CA certificates for TLS",
  },
  {
    flag: "hop-auth",
    env: "HOP_AUTH_FILE",
    file: "kafka.hop_auth",
    help: "hop auth.toml (default: $XDG_CONFIG_HOME/hop/auth.toml or ~/.config/hop/auth.toml, when present)",
  },
  {
    flag: "bucket",
    env: "S3_BUCKET",
    file: "s3.bucket",
    help: "S3 bucket for the objects (unset: local directory store under --data-dir)",
  },
  {
    flag: "s3-endpoint",
    env: "S3_ENDPOINT",
    file: "s3.endpoint",
    help: "S3-compatible endpoint URL (MinIO, ...); unset: AWS",
  },
  {
    flag: "store",
    env: "HOUSEKEEPING_STORE",
    file: "store",
    help: "object store URL: s3://BUCKET or file://DIR (overrides --bucket)",
  },
  {
    flag: "key-layout",
    env: "HOUSEKEEPING_KEY_LAYOUT",
    file: "key_layout",
    default: "daily",
    help: "object key layout: daily (topic/YYYY/MM/DD/uuid.bson) or hourly (topic/Y/M/D/H/uuid.bson)",
  },
  {
    flag: "public-topics",
    env: "PUBLIC_TOPICS",
    file: "public_topics",
    help:
      "topics whose messages are public (archive-api serves them without login): comma-separated names or " +
      "whole-name regular expressions (default: none)",
  },
  {
    flag: "index-text",
    env: "HOUSEKEEPING_INDEX_TEXT",
    file: "index_text",
    help:
      "topics whose messages' text is indexed for search (message_ts, as archive-core indexes it): names, " +
      "whole-name regular expressions, or * for all (default: none)",
  },
  {
    flag: "database-url",
    env: "DATABASE_URL",
    file: "database_url",
    secret: true,
    help: "PostgreSQL URL (unset and no PGHOST: embedded PGlite under --data-dir)",
  },
  {
    flag: "db-schema",
    env: "HOUSEKEEPING_DB_SCHEMA",
    file: "db_schema",
    help: "PostgreSQL schema for the index tables (default: the search_path)",
  },
  {
    flag: "data-dir",
    env: "HOUSEKEEPING_DATA_DIR",
    file: "data_dir",
    help: "directory for the embedded store and index (default: ~/.local/share/housekeeping)",
  },
  {
    flag: "veto",
    env: "VETO_FILE",
    file: "veto",
    help: "veto list YAML (default: ./veto.yaml, else the built-in list: sys.heartbeat)",
  },
  {
    flag: "log-level",
    env: "LOG_LEVEL",
    file: "log_level",
    default: "info",
    help: "debug, info, warn or error",
  },
] as const satisfies readonly SettingDef[];

export type SettingName = (typeof SETTINGS)[number]["flag"];
export type SettingSource = "flag" | "env" | "file" | "default";
export interface ResolvedSetting {
  value: string | undefined;
  source: SettingSource | "unset";
}
export type ResolvedSettings = Record<SettingName, ResolvedSetting>;

export type OptionSpec = { type: "string" | "boolean"; multiple?: boolean; short?: string };

/** Options every command that talks to the services accepts. */
export const CONNECTION_OPTIONS: Record<string, OptionSpec> = Object.fromEntries([
  ...SETTINGS.map((s) => [s.flag, { type: "string" }] as const),
  ["config", { type: "string" }],
  ["print-config", { type: "boolean" }],
]);

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Strict argv parsing shared by every command: an unknown or malformed flag names the command's --help. */
export function parseCommandArgs(
  command: string,
  argv: string[],
  options: Record<string, OptionSpec>,
  allowPositionals = false,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { help: { type: "boolean", short: "h" }, ...options },
      strict: true,
      allowPositionals,
    });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (e) {
    throw usageError(command, (e as Error).message);
  }
}

/** Pure: resolves every setting from its four sources. `fileText` is the content of the --config file. */
export function resolveSettings(
  values: ParsedArgs["values"],
  env: Record<string, string | undefined>,
  fileText?: string,
  fileName = "config file",
): ResolvedSettings {
  const file = fileText === undefined ? {} : parseConfigFile(fileText, fileName);
  const out = {} as ResolvedSettings;
  for (const def of SETTINGS as readonly SettingDef[]) {
    const fromFlag = values[def.flag];
    const fromEnv = def.env ? env[def.env] : undefined;
    const fromFile = lookupPath(file, def.file);
    let resolved: ResolvedSetting;
    if (typeof fromFlag === "string") resolved = { value: fromFlag, source: "flag" };
    else if (fromEnv !== undefined && fromEnv !== "") resolved = { value: fromEnv, source: "env" };
    else if (fromFile !== undefined) resolved = { value: fromFile, source: "file" };
    else if (def.default !== undefined) resolved = { value: def.default, source: "default" };
    else resolved = { value: undefined, source: "unset" };
    out[def.flag as SettingName] = resolved;
  }
  return out;
}

function parseConfigFile(text: string, fileName: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw hkError("CONFIG_INVALID", `${fileName} is not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw hkError("CONFIG_INVALID", `${fileName} must be a YAML mapping (key: value), not ${typeof doc}`);
  }
  const known = new Set((SETTINGS as readonly SettingDef[]).map((d) => d.file));
  for (const path of leafPaths(doc as Record<string, unknown>)) {
    if (!known.has(path)) {
      throw hkError(
        "CONFIG_INVALID",
        `${fileName}: unknown setting "${path}"; known settings: ${[...known].join(", ")}`,
      );
    }
  }
  return doc as Record<string, unknown>;
}

function leafPaths(obj: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`]
  );
}

function lookupPath(obj: Record<string, unknown>, path: string): string | undefined {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return undefined;
  return Array.isArray(cur) ? cur.join(",") : String(cur);
}

/** For --print-config: every setting with its source; secrets masked, and credentials inside URLs too. */
export function printableSettings(
  settings: ResolvedSettings,
): Record<string, { value: string | null; source: string }> {
  const out: Record<string, { value: string | null; source: string }> = {};
  for (const def of SETTINGS as readonly SettingDef[]) {
    const r = settings[def.flag as SettingName];
    const shown = r.value === undefined ? null : def.secret ? maskSecret(r.value) : maskSecrets(r.value);
    out[def.flag] = { value: shown, source: r.source };
  }
  return out;
}

/** URLs keep their host so operators can see where they point; anything else secret becomes "***". */
export function maskSecret(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "***";
    if (url.protocol.startsWith("postgres")) return url.toString();
  } catch {
    // not a URL
  }
  return "***";
}

/**
 * A bad setting: USAGE when it came from its flag, else CONFIG_INVALID saying where it came from (the environment
 * variable or the config file's key) so the operator knows what to fix.
 */
export function badSetting(
  settings: ResolvedSettings,
  name: SettingName,
  message: string,
): HousekeepingError {
  const def = (SETTINGS as readonly SettingDef[]).find((d) => d.flag === name)!;
  const source = settings[name].source;
  if (source === "flag") return hkError("USAGE", message);
  const from = source === "env"
    ? ` (from ${def.env})`
    : source === "file"
    ? ` (from the config file's ${def.file})`
    : "";
  return hkError("CONFIG_INVALID", `${message}${from}`);
}

export function settingValue(settings: ResolvedSettings, name: SettingName): string | undefined {
  return settings[name].value;
}

export function logLevelOf(settings: ResolvedSettings): LogLevel {
  return parseLogLevel(settings["log-level"].value ?? "info");
}

/** Renders the shared settings for a command's --help. */
export function settingsHelp(): string {
  return (SETTINGS as readonly SettingDef[])
    .map((d) => {
      const env = d.env ? ` [env ${d.env}]` : "";
      const def = d.default ? ` (default ${d.default})` : "";
      return `  --${d.flag.padEnd(18)} ${d.help}${def}${env}`;
    })
    .join("\n") +
    "\n  --config FILE        YAML file with the settings above (flag > env > file > default)" +
    "\n  --print-config       print the resolved settings (secrets masked) and exit";
}
