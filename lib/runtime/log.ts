// JSON-lines logger injected into every component (kafkajs style): one object per line on stderr so stdout stays
// free for command output (query results, --raw bytes).
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

export interface LoggerOptions {
  level?: LogLevel;
  sink?: (line: string) => void;
  fields?: LogFields;
}

const encoder = new TextEncoder();
const stderrSink = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const sink = options.sink ?? stderrSink;
  const base = options.fields ?? {};
  const emit = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (RANK[level] < threshold) return;
    // The last guard: a password in any URL of any field (an error message of a library included) is masked here.
    sink(
      maskSecrets(
        JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }, jsonSafe),
      ),
    );
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

export const silentLogger: Logger = createLogger({ sink: () => {} });
