// Command-line values, one parser per kind, shared by every command: a bad flag value is always a USAGE error
// (main.ts exits 2) naming the flag and the command's --help. The same value read from an environment variable
// instead is a configuration error (CONFIG_INVALID, exit 1) naming that variable: nothing was mistyped on the
// command line.
import { hkError, type HousekeepingError } from "../runtime/errors.ts";

/**
 * The ranges of the numeric settings several commands share. Timers stop at 2^31-1 ms (24.8 days): a longer one
 * fires at once, so every "seconds" setting stays well below that; concurrencies and MiB budgets are bounded so
 * a typo (an extra 0 or three) is refused at start-up instead of exhausting sockets or memory later.
 */
export const LIMITS = {
  port: { min: 1, max: 65535 },
  concurrency: { min: 1, max: 1024 },
  inflightMib: { min: 1, max: 65536 },
  topicRefreshSeconds: { min: 1, max: 86_400 },
  // brokers accept 6 s to 30 min by default (group.min/max.session.timeout.ms)
  sessionTimeoutSeconds: { min: 1, max: 3_600 },
  timeoutSeconds: { min: 1, max: 86_400 },
  // A rate limiter's wait is a timer too: at 0.001 records/s or 1 KiB/s it stays under a day for 64 MiB.
  recordsPerSecond: { min: 0.001, max: 1e9 },
  bytesPerSecond: { min: 1024, max: 1e12 },
} as const;

/** A usage error of `command`: the message, then where the help is. */
export function usageError(command: string, message: string): HousekeepingError {
  return hkError("USAGE", `${message}; see \`housekeeping ${command} --help\``);
}

/**
 * Where a value was read: `flag` on `command`'s command line, or, when `env` is set, that environment variable
 * standing in for the flag.
 */
export interface ValueSource {
  command: string;
  flag: string;
  env?: string;
}

/**
 * `--flag`'s value if given, else the environment variable `envName`'s (an empty variable counts as unset, as for
 * the connection settings), each with its source: spread it into a parser
 * (`positiveInt(...flagOrEnv("archive", "put-concurrency", values, env, "PUT_CONCURRENCY"), 64)`).
 */
export function flagOrEnv(
  command: string,
  flag: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  envName: string,
): [ValueSource, string | undefined] {
  const given = values[flag];
  if (typeof given === "string") return [{ command, flag }, given];
  const fromEnv = env[envName];
  return [{ command, flag, env: envName }, fromEnv === "" ? undefined : fromEnv];
}

/** A bad value: USAGE when it came from the command line, CONFIG_INVALID naming the variable when from `env`. */
export function badValue(source: ValueSource, message: string): HousekeepingError {
  return source.env === undefined
    ? usageError(source.command, message)
    : hkError("CONFIG_INVALID", `${message} (from ${source.env})`);
}

function notA(source: ValueSource, expected: string, text: string): HousekeepingError {
  return badValue(source, `--${source.flag} must be ${expected}, got ${JSON.stringify(text)}`);
}

/** A positive integer (decimal digits only); `fallback` when the value is absent. */
export function positiveInt(source: ValueSource, text: string | undefined, fallback: number): number;
export function positiveInt(source: ValueSource, text: string | undefined): number | undefined;
export function positiveInt(
  source: ValueSource,
  text: string | undefined,
  fallback?: number,
): number | undefined {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
    throw notA(source, "a positive integer", text);
  }
  return n;
}

/** An integer (decimal digits, optionally negative) from `min` to `max`; `fallback` when the value is absent. */
export function intInRange(
  source: ValueSource,
  text: string | undefined,
  range: { min: number; max: number },
  fallback: number,
): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw notA(source, `an integer from ${range.min} to ${range.max}`, text);
  }
  return n;
}

/** A non-negative integer of any size (offsets). */
export function nonNegativeBigInt(source: ValueSource, text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw notA(source, "a non-negative integer", text);
  return BigInt(text.trim());
}

/** A finite number above 0 and at most `max` (rates, sizes in MiB). */
export function positiveNumber(
  source: ValueSource,
  text: string | undefined,
  max = Number.MAX_VALUE,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0 || n > max) {
    throw notA(
      source,
      max < Number.MAX_VALUE ? `a number above 0 and at most ${max}` : "a positive number",
      text,
    );
  }
  return n;
}

/** A finite number from `min` to `max` (rates); undefined when the value is absent. */
export function numberInRange(
  source: ValueSource,
  text: string | undefined,
  range: { min: number; max: number },
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < range.min || n > range.max) {
    throw notA(source, `a number from ${range.min} to ${range.max}`, text);
  }
  return n;
}

/**
 * A boolean setting: `true` or `false`, in any case (archive-api's Python deployments write `READ_ONLY=True`).
 * Anything else (`1`, `yes`, `on`, `ture`...) is refused rather than guessed: a setting such as READ_ONLY that is
 * silently taken as false opens the archive to writes. `fallback` when the value is absent.
 */
export function booleanValue(source: ValueSource, text: string | undefined, fallback: boolean): boolean {
  if (text === undefined) return fallback;
  const lower = text.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  throw notA(source, "true or false", text);
}

/**
 * A boolean flag (`--read-only`, which takes no value) or, when absent, its environment variable parsed by
 * booleanValue; an empty variable counts as unset.
 */
export function booleanFlagOrEnv(
  command: string,
  flag: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  envName: string,
  fallback = false,
): boolean {
  if (values[flag] === true) return true;
  const fromEnv = env[envName];
  return booleanValue({ command, flag, env: envName }, fromEnv === "" ? undefined : fromEnv, fallback);
}

/** One of `allowed`, exactly as written (in any case with `ignoreCase`); `fallback` when the value is absent. */
export function oneOf<T extends string>(
  source: ValueSource,
  text: string | undefined,
  allowed: readonly T[],
  fallback: T,
  { ignoreCase = false } = {},
): T {
  if (text === undefined) return fallback;
  const found = allowed.find((a) => ignoreCase ? a.toUpperCase() === text.toUpperCase() : a === text);
  if (found === undefined) throw notA(source, `one of ${allowed.join(", ")}`, text);
  return found;
}
