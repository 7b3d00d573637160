// The one list of error codes that mean "the connection could not be made, or was lost": the error translations
// of Kafka, S3 and PostgreSQL (networkErrorCode in errors.ts, indexError in lib/index/database.ts) and the guard
// against unhandled connection errors (stray_errors.ts) all read it, so none of them can tell the same failure
// apart differently.

/** System error codes of a connection that could not be made: the service is unreachable. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** System error codes of a connection that was lost: reset, aborted, written after the peer ended it. */
export const LOST_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ENOTCONN",
]);

/** System error codes of a connection that could not be made or was lost. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([...UNREACHABLE_CODES, ...LOST_CODES]);

/**
 * postgres.js's names for a connection that could not be made or was lost (its Errors.connection: `code` and
 * `errno` are both the name). CONNECTION_ENDED is the pool being closed by this program (`sql.end()`), which
 * the index reports as its own failure rather than as the server being unreachable.
 */
export const POSTGRES_CONNECTION_CODES: ReadonlySet<string> = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
]);
