// Hopskotch credentials as hop-client stores them (docs/archive-format.md §5), read and selected by hop-client's own rules
// (hop/auth.py 0.13: load_auth, _interpret_auth_data, select_matching_auth) so that an auth.toml that works
// with `hop subscribe` works here unchanged. No text produced here ever contains a password.
import { parse, TomlError } from "smol-toml";
import { errorMessage, hkError } from "../runtime/errors.ts";
import type { SaslMechanism } from "./client.ts";

export interface HopAuthEntry {
  username: string;
  password: string;
  /** hop-client: "SASL_PLAINTEXT" disables TLS, any other value (or none) means SASL_SSL. */
  protocol: "SASL_SSL" | "SASL_PLAINTEXT";
  mechanism: SaslMechanism;
  /** Broker host[:port] the entry is for; absent: usable for any broker. */
  hostname?: string;
  /** PEM CA file; only kept for SASL_SSL, as hop-client ignores it otherwise. */
  sslCaLocation?: string;
}

export interface HopAuthOptions {
  /** An explicit file (--hop-auth): must exist. Without it the default location is tried, if present. */
  path?: string | undefined;
  env: Record<string, string | undefined>;
  /** Bootstrap servers; like hop-client, the first one selects the credential. */
  brokers: string[];
  /** Pick among several matching entries by username (hop-client: kafka://user@host/...). */
  username?: string | undefined;
  /** Who reads the file, for messages: the setting that names it and what else gives a credential. */
  reader?: HopAuthReader;
}

/** How messages about a file tell the operator to fix it: which setting names it, what else gives a credential. */
export interface HopAuthReader {
  fileSetting: string;
  otherwise: string;
}

const KAFKA_READER: HopAuthReader = {
  fileSetting: "--hop-auth (HOP_AUTH_FILE)",
  otherwise: "set KAFKA_USERNAME/KAFKA_PASSWORD",
};

export interface HopAuth {
  entry: HopAuthEntry;
  path: string;
  /** Problems worth telling the operator that do not stop us (loose file permissions). */
  warnings: string[];
}

const DEFAULT_KAFKA_PORT = "9092";
// hop-client refuses files with any of these mode bits; we warn instead.
const UNSAFE_MODE_BITS = 0o7077;
const HOST_PORT = /^([^[:][^:]*|\[[^\]]+\])(:([0-9]+))?$/;
const MECHANISMS: Record<string, SaslMechanism> = {
  "SCRAM-SHA-512": "SCRAM-SHA-512",
  "SCRAM-SHA-256": "SCRAM-SHA-256",
  "PLAIN": "PLAIN",
};

function invalidFile(path: string, problem: string, reader = KAFKA_READER): Error {
  return hkError(
    "HOP_AUTH_INVALID",
    `${path}: ${problem}; fix the file (see \`hop auth add\`) or name another one with ${reader.fileSetting}`,
  );
}

function configDir(env: Record<string, string | undefined>): string | undefined {
  if (env.XDG_CONFIG_HOME) return `${env.XDG_CONFIG_HOME}/hop`;
  return env.HOME ? `${env.HOME}/.config/hop` : undefined;
}

/** Where hop-client keeps credentials: $XDG_CONFIG_HOME/hop/auth.toml, else ~/.config/hop/auth.toml. */
export function defaultHopAuthPath(env: Record<string, string | undefined>): string | undefined {
  const dir = configDir(env);
  return dir === undefined ? undefined : `${dir}/auth.toml`;
}

function interpretEntry(raw: unknown, index: number, path: string, reader: HopAuthReader): HopAuthEntry {
  const invalid = (path: string, problem: string) => invalidFile(path, problem, reader);
  const stringField = (entry: Record<string, unknown>, field: string, where: string, path: string) => {
    const value = entry[field];
    if (value === undefined) return undefined;
    // Name the field, never its value: it could be the password.
    if (typeof value !== "string") throw invalid(path, `${where}: "${field}" must be a string`);
    return value;
  };
  const where = `credential #${index + 1}`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalid(path, `${where} is not a table`);
  }
  const entry = raw as Record<string, unknown>;
  const username = stringField(entry, "username", where, path);
  if (!username) throw invalid(path, `${where} has no username`);
  const named = `${where} (username "${username}")`;
  if (entry.token_endpoint !== undefined || entry.token_command !== undefined) {
    throw invalid(
      path,
      `${named} uses OAUTHBEARER tokens, which housekeeping does not support: use a SCRAM credential`,
    );
  }
  const password = stringField(entry, "password", named, path);
  if (!password) throw invalid(path, `${named} has no password`);
  const mechanismText = stringField(entry, "mechanism", named, path) ?? "SCRAM-SHA-512";
  // hop-client accepts both spellings (it maps "-" to "_" before looking the name up).
  const mechanism = MECHANISMS[mechanismText.toUpperCase().replaceAll("_", "-")];
  if (mechanism === undefined) {
    throw invalid(
      path,
      `${named} has mechanism "${mechanismText}"; supported: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN`,
    );
  }
  const protocol = stringField(entry, "protocol", named, path) === "SASL_PLAINTEXT"
    ? "SASL_PLAINTEXT"
    : "SASL_SSL";
  const hostname = stringField(entry, "hostname", named, path);
  const ca = stringField(entry, "ssl_ca_location", named, path);
  return {
    username,
    password,
    protocol,
    mechanism,
    ...(hostname ? { hostname } : {}),
    ...(ca && protocol === "SASL_SSL" ? { sslCaLocation: ca } : {}),
  };
}

/**
 * The credentials of an auth.toml text: `[[auth]]` entries or one old-style `[auth]` table. `path` only
 * names the file in errors (HOP_AUTH_INVALID). Returns [] when `allowMissingSection` and there is no auth.
 */
export function parseHopAuth(
  text: string,
  path: string,
  allowMissingSection = false,
  reader = KAFKA_READER,
): HopAuthEntry[] {
  const invalid = (path: string, problem: string) => invalidFile(path, problem, reader);
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    if (error instanceof TomlError) {
      // The first line only: the rest is a code excerpt, which could show the password.
      const reason = error.message.split("\n")[0] ?? "invalid TOML";
      throw invalid(path, `${reason} at line ${error.line}, column ${error.column}`);
    }
    throw invalid(path, "not a TOML document");
  }
  const auth = document.auth;
  if (auth === undefined) {
    if (allowMissingSection) return [];
    throw invalid(path, "no [[auth]] (or [auth]) section");
  }
  const list = Array.isArray(auth) ? auth : [auth];
  return list.map((raw, i) => interpretEntry(raw, i, path, reader));
}

function splitHostPort(text: string): [string, string | undefined] {
  const match = HOST_PORT.exec(text);
  return match === null ? ["", undefined] : [match[1]!, match[3]];
}

/** Whether `entry` is for `broker`: "exact" (its hostname matches), "any" (it has none), or null. */
function hostMatch(entry: HopAuthEntry, broker: string): "exact" | "any" | null {
  if (entry.hostname === undefined) return "any";
  const [host, port] = splitHostPort(broker);
  const [entryHost, entryPort] = splitHostPort(entry.hostname);
  if ((port === undefined) === (entryPort === undefined)) return entry.hostname === broker ? "exact" : null;
  if (entryHost !== host) return null;
  // Only one side names a port: they match when that port is Kafka's default.
  return port === DEFAULT_KAFKA_PORT || entryPort === DEFAULT_KAFKA_PORT ? "exact" : null;
}

function describe(entry: HopAuthEntry): string {
  return entry.hostname === undefined
    ? `${entry.username} (any broker)`
    : `${entry.username} for ${entry.hostname}`;
}

/**
 * hop-client's choice for `broker`: entries whose hostname matches win over entries without a hostname;
 * none left is HOP_AUTH_NOT_FOUND, several is HOP_AUTH_AMBIGUOUS.
 */
export function selectHopAuth(
  entries: HopAuthEntry[],
  broker: string,
  path: string,
  username?: string,
  reader = KAFKA_READER,
): HopAuthEntry {
  const candidates = entries
    .map((entry) => ({ entry, match: hostMatch(entry, broker) }))
    .filter(({ entry, match }) => match !== null && (username === undefined || entry.username === username));
  const exact = candidates.filter(({ match }) => match === "exact");
  const chosen = (exact.length > 0 ? exact : candidates).map(({ entry }) => entry);
  const forWhom = `broker ${broker}${username === undefined ? "" : ` and username "${username}"`}`;
  if (chosen.length === 0) {
    throw hkError(
      "HOP_AUTH_NOT_FOUND",
      `no credential in ${path} is for ${forWhom} (it has: ${entries.map(describe).join(", ") || "none"}); ` +
        `add one with \`hop auth add\` (hostname "${broker}" or empty), or ${reader.otherwise}`,
    );
  }
  if (chosen.length > 1) {
    throw hkError(
      "HOP_AUTH_AMBIGUOUS",
      `${chosen.length} credentials in ${path} fit ${forWhom}: ${chosen.map(describe).join(", ")}; ` +
        "give one of them a hostname, remove the extras, or choose by username",
    );
  }
  return chosen[0]!;
}

function readIfPresent(path: string): { text: string; mode: number | null } | null {
  try {
    const info = Deno.statSync(path);
    return { text: Deno.readTextFileSync(path), mode: info.mode };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw hkError("HOP_AUTH_INVALID", `cannot read ${path}: ${errorMessage(error)}; check its permissions`, {
      cause: error,
    });
  }
}

function permissionWarnings(path: string, mode: number | null): string[] {
  if (mode === null || (mode & UNSAFE_MODE_BITS) === 0) return [];
  const octal = (mode & 0o7777).toString(8).padStart(4, "0");
  return [
    `${path} has mode ${octal}: other users may read the password in it; run \`chmod 600 ${path}\` ` +
    "(hop-client refuses to use it until then)",
  ];
}

/**
 * The hop credential for `options.brokers[0]`. An explicit path must exist (else HOP_AUTH_NOT_FOUND); the
 * default location is optional: null when neither auth.toml nor an old-style [auth] in hop's config.toml
 * exists. Errors: HOP_AUTH_NOT_FOUND, HOP_AUTH_INVALID, HOP_AUTH_AMBIGUOUS.
 */
export function loadHopAuth(options: HopAuthOptions): Promise<HopAuth | null> {
  return new Promise((resolve) => resolve(loadHopAuthSync(options)));
}

/** loadHopAuth for option parsers, which read their files synchronously (as the --config file is read). */
export function loadHopAuthSync(options: HopAuthOptions): HopAuth | null {
  const reader = options.reader ?? KAFKA_READER;
  const broker = options.brokers[0];
  if (broker === undefined) throw hkError("HOP_AUTH_NOT_FOUND", "no broker to select a hop credential for");
  let path = options.path ?? defaultHopAuthPath(options.env);
  if (path === undefined) return null;
  let file = readIfPresent(path);
  let entries: HopAuthEntry[] | undefined;
  if (file === null && options.path !== undefined) {
    throw hkError(
      "HOP_AUTH_NOT_FOUND",
      `the hop credentials file ${path} does not exist; fix ${reader.fileSetting} or create it with \`hop auth add\``,
    );
  }
  if (file === null) {
    // hop-client's fallback: credentials kept in the general config.toml by old versions.
    path = `${configDir(options.env)}/config.toml`;
    file = readIfPresent(path);
    if (file === null) return null;
    entries = parseHopAuth(file.text, path, true, reader);
    if (entries.length === 0) return null;
  }
  entries ??= parseHopAuth(file.text, path, false, reader);
  const entry = selectHopAuth(entries, broker, path, options.username, reader);
  return { entry, path, warnings: permissionWarnings(path, file.mode) };
}
