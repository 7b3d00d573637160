// Logger injected into every component (kafkajs style), writing to stderr so stdout stays free for command output
// (query results, --raw bytes). JSON lines by default, which tests, container logs and collectors parse; one
// readable line per entry when a person watches a terminal (`make run` interleaves logs with its tables).
import { hkError } from "./errors.ts";
import { maskSecrets } from "./secrets.ts";
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLogLevel(value: string): LogLevel {
  if (value in RANK) return value as LogLevel;
  throw hkError("CONFIG_INVALID", `unknown log level "${value}": use debug, info, warn or error`);
}

/** json: one JSON object per line; text: "time LEVEL message key=value ...", for a terminal. */
export type LogFormat = "json" | "text";

export function parseLogFormat(value: string): LogFormat {
  if (value === "json" || value === "text") return value;
  throw hkError(
    "CONFIG_INVALID",
    `unknown LOG_FORMAT "${value}": use json or text (unset: text on a terminal)`,
  );
}

/** LOG_FORMAT if set, else text when stderr is a terminal and JSON otherwise (pipes, files, containers). */
export function logFormatOf(env: Record<string, string | undefined>, stderrIsTerminal: boolean): LogFormat {
  const chosen = env.LOG_FORMAT;
  if (chosen !== undefined && chosen !== "") return parseLogFormat(chosen);
  return stderrIsTerminal ? "text" : "json";
}

export interface LoggerOptions {
  level?: LogLevel;
  sink?: (line: string) => void;
  fields?: LogFields;
  /** Default json. */
  format?: LogFormat;
}

const encoder = new TextEncoder();
const stderrSink = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const sink = options.sink ?? stderrSink;
  const base = options.fields ?? {};
  const emit = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (RANK[level] < threshold) return;
    const entry = { time: new Date().toISOString(), level, msg, ...base, ...fields };
    // The last guard: a password in any URL of any field (an error message of a library included) is masked here.
    sink(maskSecrets(options.format === "text" ? textLine(entry) : JSON.stringify(entry, jsonSafe)));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** Logs must never throw: bigint and Error values are rendered instead of crashing JSON.stringify. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    return {
      message: value.message,
      ...("code" in value ? { code: (value as { code: unknown }).code } : {}),
    };
  }
  return value;
}

/**
 * One entry as a terminal line: `2026-12-06T07:08:09.123Z INFO  message key=value key="two words"`. Message and
 * values may hold bytes from the wire (topic names, broker errors): control characters, including C1 and the
 * bidirectional overrides a terminal would obey, are written as \uXXXX escapes, and a value that is not one plain
 * word is quoted, so a line always shows what was logged and nothing can rewrite the screen.
 */
export function textLine(entry: { time: string; level: LogLevel; msg: string } & LogFields): string {
  const { time, level, msg, ...fields } = entry;
  const pairs = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${escapeControls(key)}=${textValue(value)}`);
  return [time, level.toUpperCase().padEnd(5), escapeControls(msg), ...pairs].join(" ");
}

const PLAIN_WORD = /^[\w.:/@+,-]+$/;
const CONTROLS = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function textValue(value: unknown): string {
  if (typeof value === "string") {
    return PLAIN_WORD.test(value) ? value : escapeControls(JSON.stringify(value));
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (value instanceof Error) {
    const code = "code" in value ? ` [${String((value as { code: unknown }).code)}]` : "";
    return escapeControls(JSON.stringify(value.message + code));
  }
  return escapeControls(JSON.stringify(value, jsonSafe) ?? String(value));
}

export const silentLogger: Logger = createLogger({ sink: () => {} });
