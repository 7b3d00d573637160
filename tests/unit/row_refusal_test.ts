// Which index failures are the rows' own doing (quarantine) and which are not (retry or stop): lib/index/rows.ts.
import assert from "node:assert/strict";
import { quarantineRow, rowRefusal } from "../../lib/index/rows.ts";
import type { IndexRow } from "../../lib/index/types.ts";
import { hkError } from "../../lib/runtime/errors.ts";

const pgError = (code: string, message = "refused") =>
  Object.assign(new Error(message), { name: "PostgresError", code });
const wrapped = (e: Error) =>
  hkError("INDEX_QUERY_INVALID", `claiming 1 index rows: ${e.message}`, { cause: e });

Deno.test("rowRefusal: data exceptions, constraints and limits are the rows'; connections, races and outages are not", () => {
  for (const code of ["22021", "22P05", "22001", "22003", "23514", "23502", "54000"]) {
    assert.equal(rowRefusal(wrapped(pgError(code, "bad\u0000 value"))), `SQLSTATE ${code}: bad  value`, code);
  }
  for (
    const code of ["08006", "40001", "40P01", "53300", "55P03", "57014", "57P01", "42P01", "42501", "XX000"]
  ) {
    assert.equal(rowRefusal(wrapped(pgError(code))), null, code);
  }
  assert.equal(
    rowRefusal(hkError("INDEX_UNREACHABLE", "cannot reach PostgreSQL", { retriable: true })),
    null,
  );
  assert.equal(rowRefusal(Object.assign(new Error("reset"), { code: "ECONNRESET" })), null);
  assert.equal(rowRefusal("not an error"), null);
  // A reason is index text too: bounded.
  assert.equal(rowRefusal(pgError("22021", "x".repeat(5000)))!.length, 1024);
});

Deno.test("quarantineRow keeps identity, coordinates and checksums and drops the header-derived text", () => {
  const row: IndexRow = {
    uuid: "5f0c2b9e-3a41-4d7c-9b1e-0c8d7a6e5f43",
    topic: "t",
    timestamp: 1n,
    partition: 0,
    offset: 7n,
    size: 100,
    key: "t/1970/01/01/5f0c2b9e-3a41-4d7c-9b1e-0c8d7a6e5f43.bson",
    bucket: "b",
    crc32: 1,
    isClientUuid: true,
    messageCrc32: 2,
    archivedAt: 3n,
    archiverVersion: "v",
    contentSha256: "ab".repeat(32),
    valueSize: 10,
    sender: "alice",
    format: "json",
    isTest: false,
    clashOf: null,
    catalog: {
      public: true,
      directUpload: true,
      title: "x",
      mediaType: "application/json",
      fileName: "f",
      originator: "o",
      retracted: false,
    },
  };
  assert.deepEqual(quarantineRow(row, "SQLSTATE 22P05: no"), {
    ...row,
    sender: null,
    format: null,
    catalog: {
      public: true,
      directUpload: true,
      title: "",
      mediaType: "application/octet-stream",
      fileName: "",
      originator: "",
      retracted: false,
    },
    quarantine: "SQLSTATE 22P05: no",
  });
});
