// Every error the program raises on purpose is a HousekeepingError: a stable `code`, a message that says how to fix
// the problem, and whether retrying can help (kafkajs style). main.ts prints `message` and exits; it never prints
// stack traces for these. Errors of other origins (a raw ECONNREFUSED, a kafkajs error) are never taken for ours,
// even when they carry a string `code`.

import { NETWORK_ERROR_CODES } from "./network_errors.ts";

/** Every code a HousekeepingError can carry, by area. */
export type ErrorCode =
  // the command line, configuration and shutdown
  | "USAGE"
  | "CONFIG_INVALID"
  | "STOPPING"
  | "VETO_INVALID"
  | "HOP_AUTH_AMBIGUOUS"
  | "HOP_AUTH_INVALID"
  | "HOP_AUTH_NOT_FOUND"
  | "HTTP_LISTEN_FAILED"
  // hopauth (scimma-admin's REST API), the archive's topic policy
  | "HOPAUTH_AUTH"
  | "HOPAUTH_FAILED"
  | "HOPAUTH_ANSWER_INVALID"
  // records, objects, keys
  | "ARCHIVE_FAILED"
  | "ARCHIVE_OBJECT_INVALID"
  | "ARCHIVE_RECORD_INVALID"
  | "BSON_VALUE_INVALID"
  | "KEY_LAYOUT_INVALID"
  | "KEY_TOPIC_INVALID"
  | "KEY_UUID_INVALID"
  | "UUID_INVALID"
  | "INGEST_UUID_COLLISION"
  | "INGEST_UUID_LOOP"
  // Kafka
  | "KAFKA_AUTH_FAILED"
  | "KAFKA_BROKER_TOO_OLD"
  | "KAFKA_CA_FILE_UNREADABLE"
  | "KAFKA_COMPRESS_FAILED"
  | "KAFKA_CONFIG_INVALID"
  | "KAFKA_CONNECTION_CLOSED"
  | "KAFKA_CONNECT_FAILED"
  | "KAFKA_DECOMPRESS_FAILED"
  | "KAFKA_INTERNALS_MISMATCH"
  | "KAFKA_RESPONSE_TOO_LARGE"
  | "KAFKA_TLS_FAILED"
  | "KAFKA_UNREACHABLE"
  | "KAFKA_WIRE_HEADERS_MISSING"
  | "KAFKA_WIRE_MIXED_BATCH"
  | "KAFKA_WIRE_RECORD_INVALID"
  | "LZ4_FRAME_INVALID"
  // the index (PostgreSQL)
  | "INDEX_ACCESS_DENIED"
  | "INDEX_AUTH_FAILED"
  | "INDEX_CONFIG_INVALID"
  | "INDEX_EMBEDDED_BUSY"
  | "INDEX_EMBEDDED_FAILED"
  | "INDEX_MIGRATION_FAILED"
  | "INDEX_NOT_MIGRATED"
  | "INDEX_NO_DATABASE"
  | "INDEX_QUERY_FAILED"
  | "INDEX_QUERY_INVALID"
  | "INDEX_TLS_FAILED"
  | "INDEX_SCHEMA_MISSING"
  | "INDEX_SCHEMA_NEW"
  | "INDEX_SCHEMA_OLD"
  | "INDEX_UNREACHABLE"
  // the object store
  | "STORE_ACCESS_DENIED"
  | "STORE_ANSWER_INVALID"
  | "STORE_CHECKSUM_INVALID"
  | "STORE_CHECKSUM_MISMATCH"
  | "STORE_CONFIG_INVALID"
  | "STORE_FAILED"
  | "STORE_FULL"
  | "STORE_KEY_CONFLICT"
  | "STORE_KEY_INVALID"
  | "STORE_NO_BUCKET"
  | "STORE_TLS_FAILED"
  | "STORE_UNREACHABLE"
  | "STORE_URL_INVALID"
  | "STORE_WRONG_REGION"
  // commands
  | "EXPORT_DIR_FAILED"
  | "INSPECT_NOT_FOUND"
  | "INSPECT_OBJECT_MISSING"
  | "INSPECT_OUTPUT_FAILED"
  | "INSPECT_TOMBSTONE"
  | "INSPECT_UNDECODABLE"
  | "MANIFEST_INVALID"
  | "MOCK_INTERNAL"
  | "MOCK_MANIFEST_UNWRITABLE"
  | "MOCK_OPTIONS_INVALID"
  | "MOCK_SAMPLES_MISSING"
  | "MOCK_SAMPLE_INVALID"
  | "MOCK_SEED_INVALID"
  | "MOCK_SEND_FAILED"
  | "MOCK_TOPICS_NOT_READY"
  | "MOCK_TOPIC_PARTITIONS"
  | "RESTORE_BAD_OBJECT"
  | "RESTORE_CHECKPOINT_FAILED"
  | "RESTORE_CHECKPOINT_INVALID"
  | "RESTORE_CHECKPOINT_MISMATCH"
  | "RESTORE_INTERRUPTED"
  | "RESTORE_LOOP"
  | "RESTORE_READBACK_FAILED"
  | "RESTORE_SEND_FAILED"
  | "RESTORE_TARGET_LOG_APPEND_TIME"
  | "RESTORE_TARGET_MISSING"
  | "RESTORE_TARGET_REJECTS_TIMESTAMPS"
  | "OBJECT_MALFORMED"
  | "HOPAUTH_FAILED"
  | "SERVE_DEADLINE"
  | "SERVE_RESPONSE_UNSAFE"
  | "SERVE_UNAVAILABLE"
  | "UPLOAD_INVALID"
  | "UPLOAD_UNRESOLVED";

export class HousekeepingError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HousekeepingError";
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

export function hkError(
  code: ErrorCode,
  message: string,
  options: { retriable?: boolean; cause?: unknown } = {},
): HousekeepingError {
  return new HousekeepingError(code, message, options);
}

/** True only for errors this program raised (hkError), never for a foreign error that has a `code`. */
export function isHkError(e: unknown): e is HousekeepingError {
  return e instanceof HousekeepingError;
}

/**
 * Whether trying again can help: ours say so themselves; any other error only if it is a lost or refused network
 * connection (see networkErrorCode).
 */
export function isRetriable(e: unknown): boolean {
  return isHkError(e) ? e.retriable : networkErrorCode(e) !== undefined;
}

export { NETWORK_ERROR_CODES, UNREACHABLE_CODES } from "./network_errors.ts";

/**
 * The system error code (ECONNREFUSED, ECONNRESET...) of a network failure anywhere in `e`'s chain of causes
 * (`cause`, or kafkajs's `originalError`), if it is one of `codes`; undefined otherwise. The one rule for "the
 * service is unreachable" that the Kafka, PostgreSQL and S3 error translations share.
 */
export function networkErrorCode(
  e: unknown,
  codes: ReadonlySet<string> = NETWORK_ERROR_CODES,
): string | undefined {
  let current: unknown = e;
  for (let depth = 0; typeof current === "object" && current !== null && depth < 10; depth++) {
    const link = current as { code?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof link.code === "string" && codes.has(link.code)) return link.code;
    current = link.cause ?? link.originalError;
  }
  return undefined;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
