// Builds the postgres.js client for the index, and turns PostgreSQL and network failures into coded errors that
// say what to fix. The password never appears in a message: targets are described as host:port/database.
import net from "node:net";
import postgres from "postgres";
import { hkError, type HousekeepingError, isHkError, networkErrorCode } from "../runtime/errors.ts";
import { diagnoseTlsError, tlsError, verificationOffWarning } from "../runtime/tls.ts";
import { POSTGRES_CONNECTION_CODES } from "../runtime/network_errors.ts";
import { indexTls } from "./tls.ts";

/** The client every index function takes: int8 columns arrive as bigint. */
export type IndexSql = postgres.Sql<{ bigint: bigint }>;

export interface ConnectOptions {
  /**
   * Schema that holds the index tables (one per test, or `--db-schema`): it becomes the search_path and is
   * created when missing. Unset: the server's search_path.
   */
  searchPath?: string;
  /** Connections in the pool. The embedded server serves exactly one: pass its `max` (1). */
  max?: number;
  /** Seconds to wait for the server to accept a connection. Default 10. */
  connectTimeoutSeconds?: number;
  /** Told when the TLS settings verify less than they could (sslmode=require, verify-ca). */
  onWarning?: (message: string) => void;
  /**
   * A connection on which the server sends nothing for this long is closed, failing its statement with
   * INDEX_UNREACHABLE: a server that accepts and never answers costs a bounded wait, and the pool gets the
   * connection back. Only for callers whose statements are short (serve, archive): a long count is silent too.
   * Idle connections are closed by the pool before that. Unset: no bound.
   */
  silenceTimeoutSeconds?: number;
}

/** serve's and archive's bound on a silent PostgreSQL connection (ConnectOptions.silenceTimeoutSeconds). */
export const INDEX_SILENCE_SECONDS = 60;

type SocketTarget = { host: string[]; port: number[]; path?: string | false };

/**
 * postgres.js's `socket` option: connections it opens through us carry a silence timer (postgres.js has no
 * statement timeout of its own, and a silent server's statement would wait on TCP keepalive, which a live but
 * hung server answers). Hosts are taken in turn, as postgres.js does.
 */
function silenceBoundSockets(seconds: number) {
  let next = 0;
  return (target: SocketTarget): Promise<net.Socket> => {
    const i = next++ % Math.max(1, target.host.length);
    const socket = target.path
      ? net.connect(target.path)
      : net.connect({ host: target.host[i] ?? "localhost", port: target.port[i] ?? 5432 });
    // Counts from now, so a connect that never completes is bounded too.
    socket.setTimeout(seconds * 1000, () => {
      socket.destroy(
        Object.assign(new Error(`PostgreSQL sent nothing for ${seconds} s`), { code: "ETIMEDOUT" }),
      );
    });
    // Handed over while still connecting (writes wait for the connection), never as a rejection: postgres.js
    // treats a socket factory that fails as a lost query but never closes that connection slot, so each refused
    // connect during a PostgreSQL restart would leak a slot until the pool had none and the archive stalled for
    // good. A connect that fails now reaches postgres.js as its own socket's 'error' and 'close'.
    // Until postgres.js attaches its own listener on the next turn, an early error must not go unhandled.
    socket.on("error", () => {});
    return Promise.resolve(socket);
  };
}

// postgres.js's names for a connection that could not be made or was lost (system codes: networkErrorCode); not
// CONNECTION_ENDED, which is this program closing the pool, not the server being unreachable.
const isLostConnection = (code: string) => POSTGRES_CONNECTION_CODES.has(code) && code !== "CONNECTION_ENDED";
const AUTH_CODES = new Set(["SASL_SIGNATURE_MISMATCH", "AUTH_TYPE_NOT_IMPLEMENTED", "28P01", "28000"]);
// Server-side states where the same statement can succeed later: lost races, timeouts, a server restarting.
const TRANSIENT_STATES = new Set(["40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"]);

type DbError = Error & { code?: unknown; severity?: unknown };

/** True for failures that mean "no usable connection" rather than "this statement is wrong". */
export function isConnectionError(e: unknown): boolean {
  const code = (e as HousekeepingError | undefined)?.code;
  return code === "INDEX_UNREACHABLE" || code === "INDEX_AUTH_FAILED" || code === "INDEX_NO_DATABASE";
}

/** Maps a postgres.js failure during `action` onto a coded error. */
export function indexError(e: unknown, action: string): HousekeepingError {
  // Ours (raised by this module family, or a shutdown) are carried through untouched.
  if (isHkError(e)) return e;
  if (!(e instanceof Error)) return hkError("INDEX_QUERY_FAILED", `${action} failed: ${String(e)}`);
  const err = e as DbError;
  const code = typeof err.code === "string" ? err.code : "";
  const opts = { cause: e };
  const isServerError = err.name === "PostgresError";
  const tls = !isServerError && tlsError(e, "INDEX_TLS_FAILED", {
    peer: `PostgreSQL (${action})`,
    caSetting: "sslrootcert in DATABASE_URL (or PGSSLROOTCERT)",
    protocolHint: "",
  }, { certificatesOnly: true });
  if (tls) return tls;
  const networkCode = networkErrorCode(e);
  if (
    networkCode !== undefined || isLostConnection(code) ||
    (isServerError && (code.startsWith("08") || code === "53300"))
  ) {
    return hkError(
      "INDEX_UNREACHABLE",
      `${action}: cannot reach PostgreSQL (${
        networkCode ?? code
      }: ${err.message}); check DATABASE_URL / PG* variables and that ` +
        "the server is up",
      { ...opts, retriable: true },
    );
  }
  if (AUTH_CODES.has(code)) {
    return hkError(
      "INDEX_AUTH_FAILED",
      `${action}: PostgreSQL refused the login (${err.message}); check the user and password in DATABASE_URL ` +
        "(or PGUSER / PGPASSWORD)",
      opts,
    );
  }
  if (!isServerError) {
    return hkError("INDEX_QUERY_FAILED", `${action} failed: ${err.message}`, opts);
  }
  if (code === "3D000") {
    return hkError(
      "INDEX_NO_DATABASE",
      `${action}: ${err.message}; create the database or fix the database name in DATABASE_URL (or PGDATABASE)`,
      opts,
    );
  }
  if (code === "42501") {
    return hkError(
      "INDEX_ACCESS_DENIED",
      `${action}: ${err.message}; grant this database user the privileges on the index schema and tables`,
      opts,
    );
  }
  if (code === "42P01") {
    return hkError(
      "INDEX_NOT_MIGRATED",
      `${action}: ${err.message}; the index tables are missing in this schema: let the archiver migrate it, ` +
        "or check --db-schema / search_path",
      opts,
    );
  }
  if (code === "2201B" || code.startsWith("22")) {
    return hkError("INDEX_QUERY_INVALID", `${action}: ${err.message}`, opts);
  }
  return hkError("INDEX_QUERY_FAILED", `${action} failed (SQLSTATE ${code}): ${err.message}`, {
    ...opts,
    retriable: TRANSIENT_STATES.has(code) || code.startsWith("53"),
  });
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function useSchema(sql: IndexSql, schema: string, singleSession: boolean): Promise<void> {
  const [exists] = await sql<{ found: boolean }[]>`
    select exists (select 1 from pg_namespace where nspname = ${schema}) as found`;
  if (!exists?.found) {
    try {
      await sql`create schema if not exists ${sql(schema)}`;
    } catch (e) {
      const mapped = indexError(e, `creating schema ${schema}`);
      if (mapped.code !== "INDEX_ACCESS_DENIED") throw mapped;
      throw hkError(
        "INDEX_ACCESS_DENIED",
        `schema ${schema} does not exist and this user may not create it: create it (CREATE SCHEMA ${
          quoteIdentifier(schema)
        }) or choose another with --db-schema`,
        { cause: e },
      );
    }
  }
  const [current] = await sql<{ schema: string | null }[]>`select current_schema() as schema`;
  if (current?.schema === schema) return;
  // PGlite ignores startup parameters, but it is one session for every client: a SET there sticks.
  if (!singleSession) {
    throw hkError(
      "INDEX_CONFIG_INVALID",
      `the server did not apply search_path=${schema}; set it for the database user instead ` +
        `(ALTER ROLE ... SET search_path = ${quoteIdentifier(schema)})`,
    );
  }
  await sql`select set_config('search_path', ${quoteIdentifier(schema)}, false)`;
}

// PostgreSQL's SSLRequest; the server answers one byte, "S" when it goes on in TLS.
const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

async function requestSsl(conn: Deno.TcpConn): Promise<Deno.TcpConn> {
  await conn.write(SSL_REQUEST);
  const answer = new Uint8Array(1);
  await conn.read(answer);
  return conn;
}

/**
 * Connects to `url`, else $DATABASE_URL, else what the standard PG* variables describe (postgres.js reads them
 * itself), and checks that the server answers. Close it with `sql.end()`.
 */
export async function connectIndex(url?: string, options: ConnectOptions = {}): Promise<IndexSql> {
  const tls = indexTls(url || Deno.env.get("DATABASE_URL") || undefined, Deno.env.toObject());
  const unverified = tls.ssl === false ? undefined : verificationOffWarning("PostgreSQL server's");
  for (const warning of [tls.warning, unverified]) if (warning !== undefined) options.onWarning?.(warning);
  const target = tls.url;
  const max = options.max ?? 10;
  const settings = {
    max,
    ...(tls.ssl === false ? {} : { ssl: tls.ssl }),
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    ...(options.silenceTimeoutSeconds === undefined ? {} : {
      socket: silenceBoundSockets(options.silenceTimeoutSeconds),
      idle_timeout: Math.max(1, Math.floor(options.silenceTimeoutSeconds / 2)),
    }),
    onnotice: () => {},
    types: { bigint: postgres.BigInt },
    connection: {
      application_name: "housekeeping",
      ...(options.searchPath !== undefined ? { search_path: quoteIdentifier(options.searchPath) } : {}),
    },
  };
  let sql: IndexSql;
  try {
    sql = target === undefined ? postgres(settings) : postgres(target, settings);
  } catch (e) {
    // The URL itself is not repeated: it may carry the password.
    throw hkError(
      "INDEX_CONFIG_INVALID",
      "the PostgreSQL URL is not valid (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE); fix DATABASE_URL",
      { cause: e },
    );
  }
  const where = `${sql.options.host.join(",")}:${sql.options.port.join(",")}/${sql.options.database}`;
  try {
    await sql`select 1`;
    if (options.searchPath !== undefined) await useSchema(sql, options.searchPath, max === 1);
  } catch (e) {
    await sql.end({ timeout: 0 });
    const address = { hostname: sql.options.host[0] ?? "", port: sql.options.port[0] ?? 5432 };
    const ca = typeof tls.ssl === "object" ? tls.ssl.ca : undefined;
    throw await diagnoseTlsError(indexError(e, `connecting to ${where}`), {
      address,
      ...(ca ? { ca } : {}),
      startTls: requestSsl,
    });
  }
  return sql;
}
