// Every error the program raises on purpose carries a stable `code`, says how to fix the problem, and tells callers
// whether retrying can help (kafkajs style). main.ts prints `message` and exits; it never prints stack traces for these.
export interface HousekeepingError extends Error {
  code: string;
  retriable: boolean;
}

export function hkError(
  code: string,
  message: string,
  options: { retriable?: boolean; cause?: unknown } = {},
): HousekeepingError {
  const err = new Error(message, options.cause === undefined ? undefined : { cause: options.cause });
  return Object.assign(err, { code, retriable: options.retriable ?? false });
}

export function isHkError(e: unknown): e is HousekeepingError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === "string";
}

export function isRetriable(e: unknown): boolean {
  return isHkError(e) && (e as HousekeepingError).retriable === true;
}

/** System error codes of a connection that could not be made or was lost: the service is unreachable. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
