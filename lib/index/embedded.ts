// Laptop default: with no PostgreSQL configured, the index lives in PGlite (PostgreSQL compiled to WASM, persisted
// to a directory) served over the PostgreSQL wire protocol on a random loopback port. The rest of the program talks
// to it through postgres.js exactly as to a real server: one SQL code path.
//
// PGlite is a single session. pglite-socket can multiplex clients, but it interleaves their protocol messages one
// by one, which breaks postgres.js's pipelined extended-protocol queries; so the server accepts ONE connection and
// the client must use a pool of one (`max` below). Session settings (search_path) are shared by every client.
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { hkError } from "../runtime/errors.ts";

export interface EmbeddedIndex {
  /** postgres:// URL of the loopback server (no password: it listens on 127.0.0.1 only). */
  url: string;
  /** Pool size the client must use: pass it to connectIndex's `max`. */
  max: 1;
  close(): Promise<void>;
}

async function lockDir(dataDir: string): Promise<Deno.FsFile> {
  const file = await Deno.open(join(dataDir, "lock"), { create: true, write: true });
  // Two PGlite instances on one directory corrupt it; fail at once rather than wait for the other to stop.
  if (!(await file.tryLock(true))) {
    file.close();
    throw hkError(
      "INDEX_EMBEDDED_BUSY",
      `the embedded index in ${dataDir} is open in another housekeeping process; stop that one, or set ` +
        "DATABASE_URL so that several processes can share a PostgreSQL server",
    );
  }
  return file;
}

/** Opens (creating on first use) the embedded index persisted in `dataDir` and serves it on 127.0.0.1. */
export async function startEmbeddedIndex(dataDir: string): Promise<EmbeddedIndex> {
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (e) {
    throw hkError("INDEX_EMBEDDED_FAILED", `cannot create ${dataDir} for the embedded index: ${String(e)}`, {
      cause: e,
    });
  }
  const lock = await lockDir(dataDir);
  let db: PGlite | undefined;
  try {
    db = await PGlite.create(join(dataDir, "pgdata"));
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 });
    await server.start();
    const opened = db;
    return {
      url: `postgres://postgres@${server.getServerConn()}/postgres`,
      max: 1,
      async close() {
        try {
          await server.stop();
          await opened.close();
        } finally {
          await lock.unlock();
          lock.close();
        }
      },
    };
  } catch (e) {
    await db?.close().catch(() => {});
    await lock.unlock();
    lock.close();
    throw hkError(
      "INDEX_EMBEDDED_FAILED",
      `cannot open the embedded index in ${dataDir} (${
        e instanceof Error ? e.message : String(e)
      }); if the ` +
        "directory holds something else, point --data-dir elsewhere",
      { cause: e },
    );
  }
}
